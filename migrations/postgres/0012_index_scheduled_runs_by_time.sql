-- The API lists runs newest first across monitors.
CREATE INDEX scheduled_runs_by_time ON scheduled_runs (scheduled_for);
