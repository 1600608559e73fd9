-- The bucket key includes the width: a change of bucket width (1h -> 1d) starts a series of its own
-- instead of overwriting and mixing buckets of the old width. SQLite cannot change a primary key in
-- place, so the table is rebuilt; every row is kept with its width.
CREATE TABLE buckets_by_width (
    monitor        TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    column_name    TEXT    NOT NULL DEFAULT '',
    bucket_start   INTEGER NOT NULL,
    bucket_seconds INTEGER NOT NULL,
    value          REAL    NOT NULL,
    observed_at    INTEGER NOT NULL,
    PRIMARY KEY (monitor, metric, column_name, bucket_seconds, bucket_start)
);

INSERT INTO buckets_by_width (monitor, metric, column_name, bucket_start, bucket_seconds, value, observed_at)
SELECT monitor, metric, column_name, bucket_start, bucket_seconds, value, observed_at FROM buckets;

DROP TABLE buckets;

ALTER TABLE buckets_by_width RENAME TO buckets;
