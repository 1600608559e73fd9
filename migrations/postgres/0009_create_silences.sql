-- Silences: matchers (Alertmanager syntax, `{a="1", b=~"x|y"}`) and a window [starts_at, ends_at).
-- Expiring one sets ends_at; rows are kept.
CREATE TABLE silences (
    id         BIGSERIAL   PRIMARY KEY,
    matchers   TEXT        NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    created_by TEXT        NOT NULL,
    comment    TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
