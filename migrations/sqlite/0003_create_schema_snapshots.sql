-- Column list of a dataset as seen by one run. columns is a JSON array of {"name", "type"}.
CREATE TABLE schema_snapshots (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    monitor     TEXT    NOT NULL,
    dataset     TEXT    NOT NULL,
    observed_at INTEGER NOT NULL,
    columns     TEXT    NOT NULL
);

CREATE INDEX schema_snapshots_monitor_idx ON schema_snapshots (monitor, observed_at);
CREATE INDEX schema_snapshots_run_idx ON schema_snapshots (run_id);
