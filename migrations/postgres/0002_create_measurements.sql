-- One row per measured metric. column_name is '' for table metrics (the API speaks Option<String>).
-- details is JSON text (not JSONB) so it round-trips byte for byte like the SQLite backend.
CREATE TABLE measurements (
    id               BIGSERIAL PRIMARY KEY,
    run_id           BIGINT           NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    monitor          TEXT             NOT NULL,
    source           TEXT             NOT NULL,
    dataset          TEXT             NOT NULL,
    metric           TEXT             NOT NULL,
    column_name      TEXT             NOT NULL DEFAULT '',
    value            DOUBLE PRECISION,
    status           TEXT             NOT NULL,
    lower_bound      DOUBLE PRECISION,
    upper_bound      DOUBLE PRECISION,
    message          TEXT             NOT NULL,
    details          TEXT,
    observed_at      TIMESTAMPTZ      NOT NULL,
    expected_anomaly BOOLEAN          NOT NULL DEFAULT FALSE
);

CREATE INDEX measurements_series_idx ON measurements (monitor, metric, column_name, observed_at);
CREATE INDEX measurements_run_idx ON measurements (run_id);
