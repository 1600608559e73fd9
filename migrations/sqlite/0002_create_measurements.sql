-- One row per measured metric. column_name is '' for table metrics (the API speaks Option<String>).
-- observed_at is INTEGER microseconds since the Unix epoch (UTC); details is JSON text.
CREATE TABLE measurements (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    monitor          TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    dataset          TEXT    NOT NULL,
    metric           TEXT    NOT NULL,
    column_name      TEXT    NOT NULL DEFAULT '',
    value            REAL,
    status           TEXT    NOT NULL,
    lower_bound      REAL,
    upper_bound      REAL,
    message          TEXT    NOT NULL,
    details          TEXT,
    observed_at      INTEGER NOT NULL,
    expected_anomaly INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX measurements_series_idx ON measurements (monitor, metric, column_name, observed_at);
CREATE INDEX measurements_run_idx ON measurements (run_id);
