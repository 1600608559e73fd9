-- One row per scheduled (or manually triggered) run of a monitor, claimed by the service process that
-- executes it: the primary key on (monitor, scheduled_for) makes the claim an INSERT ... ON CONFLICT DO
-- NOTHING, so a run is executed once. Timestamps are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE scheduled_runs (
    monitor       TEXT    NOT NULL,
    scheduled_for INTEGER NOT NULL,
    trigger       TEXT    NOT NULL,
    holder        TEXT    NOT NULL,
    claimed_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    outcome       TEXT,
    message       TEXT    NOT NULL DEFAULT '',
    run_id        INTEGER,
    PRIMARY KEY (monitor, scheduled_for)
);
