-- Silences: matchers (Alertmanager syntax, `{a="1", b=~"x|y"}`) and a window [starts_at, ends_at)
-- in INTEGER microseconds since the Unix epoch, UTC. Expiring one sets ends_at; rows are kept.
CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    comment    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);
