-- The bucket key includes the width: a change of bucket width (1h -> 1d) starts a series of its own
-- instead of overwriting and mixing buckets of the old width. Existing rows keep their width.
ALTER TABLE buckets
    DROP CONSTRAINT buckets_pkey,
    ADD PRIMARY KEY (monitor, metric, column_name, bucket_seconds, bucket_start);
