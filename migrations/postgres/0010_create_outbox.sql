-- The durable outbox: a notification (alerts::Notification as JSON) is written here before it is
-- sent and marked when delivered, so kill -9 loses none. state: pending | delivered | dead.
-- last_error is already redacted.
CREATE TABLE outbox (
    id              BIGSERIAL   PRIMARY KEY,
    notification_id TEXT        NOT NULL UNIQUE,
    receiver        TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (state, next_attempt_at);
-- The grouping state (alerts::Aggregator as JSON) under a name, written in the same transaction as
-- the outbox rows its flush produced; version guards against two writers.
CREATE TABLE alert_state (
    name       TEXT        PRIMARY KEY,
    state      TEXT        NOT NULL,
    version    BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
