-- One row per monitor a scan holds: another holder may take it only once expires_at (INTEGER
-- microseconds since the Unix epoch, UTC) has passed, so two scans of one monitor do not both write its
-- history.
CREATE TABLE monitor_leases (
    monitor    TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
