-- The tables a `discover:` monitor has seen, one row per (template monitor, schema, table): what the
-- next metadata cycle compares against. A table missing from the catalog gets `dropped_at` (its
-- "table dropped" error is reported once, when it is set); `change_token` / `changed_at` are the last
-- change signal and when it last moved (staleness); `inserts` the last insert counter (rows_inserted);
-- `columns` the last schema as JSON text. Timestamps are INTEGER microseconds since the Unix epoch.
CREATE TABLE discovered_tables (
    monitor      TEXT    NOT NULL,
    schema_name  TEXT    NOT NULL,
    table_name   TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    dropped_at   INTEGER,
    change_token TEXT,
    changed_at   INTEGER,
    inserts      REAL,
    columns      TEXT    NOT NULL,
    PRIMARY KEY (monitor, schema_name, table_name)
);
