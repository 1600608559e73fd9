-- One row per scheduled (or manually triggered) run of a monitor, claimed by the service process that
-- executes it: the primary key on (monitor, scheduled_for) makes the claim an INSERT ... ON CONFLICT DO
-- NOTHING, so several `tidewatch run` processes sharing this store execute each scheduled run once.
CREATE TABLE scheduled_runs (
    monitor       TEXT        NOT NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    trigger       TEXT        NOT NULL,
    holder        TEXT        NOT NULL,
    claimed_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    outcome       TEXT,
    message       TEXT        NOT NULL DEFAULT '',
    run_id        BIGINT,
    PRIMARY KEY (monitor, scheduled_for)
);
