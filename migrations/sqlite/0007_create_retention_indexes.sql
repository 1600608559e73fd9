-- Retention (prune) deletes by age: these keep it from scanning the whole history. Buckets are pruned
-- by bucket_start, which their primary key cannot serve.
CREATE INDEX measurements_observed_idx ON measurements (observed_at);
CREATE INDEX runs_started_idx ON runs (started_at);
CREATE INDEX buckets_start_idx ON buckets (bucket_start);
