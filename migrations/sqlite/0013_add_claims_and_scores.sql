-- Service mode, second part. Times are INTEGER microseconds since the Unix epoch (UTC).
-- outbox: a delivering process claims a pending row (claimed_by, until claim_until) before it sends
-- it, so two `tidewatch run` processes on one store never both send one notification; a claim that
-- expired (its process died) may be taken again.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claim_until INTEGER;
-- measurements: the learned baseline's anomaly score in [0, 1] (NULL: no learned verdict).
ALTER TABLE measurements ADD COLUMN score REAL;
-- scheduled_runs: the executing process renews lease_until while the run goes; a row still running
-- after its lease expired was left by a dead process and is marked abandoned by a survivor.
ALTER TABLE scheduled_runs ADD COLUMN lease_until INTEGER;
