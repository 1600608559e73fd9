-- One row per monitor a scan holds: another holder may take it only once expires_at has passed, so two
-- scans of one monitor on a shared store do not both write its history.
CREATE TABLE monitor_leases (
    monitor    TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
