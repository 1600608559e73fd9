-- One row per scan run. Timestamps are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    problems    INTEGER
);
