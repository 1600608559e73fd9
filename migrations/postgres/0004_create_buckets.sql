-- Bucketed series (rows per hour etc.). A re-backfill overwrites the bucket with the same key.
CREATE TABLE buckets (
    monitor        TEXT             NOT NULL,
    metric         TEXT             NOT NULL,
    column_name    TEXT             NOT NULL DEFAULT '',
    bucket_start   TIMESTAMPTZ      NOT NULL,
    bucket_seconds BIGINT           NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    observed_at    TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (monitor, metric, column_name, bucket_start)
);
