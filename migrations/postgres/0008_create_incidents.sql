-- One row per incident: a failing or anomalous series (fingerprint = checks::SeriesKey::fingerprint)
-- from its first bad scan until it passes again or a person resolves it. At most one incident per
-- fingerprint is not resolved.
CREATE TABLE incidents (
    id              BIGSERIAL   PRIMARY KEY,
    dedup_key       TEXT        NOT NULL,
    fingerprint     TEXT        NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    severity        TEXT        NOT NULL,
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by TEXT,
    resolved_at     TIMESTAMPTZ,
    resolved_by     TEXT,
    labels          TEXT        NOT NULL,
    annotations     TEXT        NOT NULL,
    last_status     TEXT        NOT NULL
);
CREATE UNIQUE INDEX incidents_one_unresolved ON incidents (fingerprint) WHERE state <> 'resolved';
CREATE INDEX incidents_by_first_seen ON incidents (first_seen);
