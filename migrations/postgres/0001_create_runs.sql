-- One row per scan run.
CREATE TABLE runs (
    id          BIGSERIAL PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    problems    BIGINT
);
