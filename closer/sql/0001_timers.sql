-- The closer's due-time index: one row per running timer, rebuilt per customer stream from its events.
-- Written in the same transaction as the closer's checkpoint, so it is always the index of exactly the
-- events before that checkpoint. Applied by eventstore.migrations (namespace "closer").

CREATE TABLE closer_timers (
    -- Deterministic (see closer/deadlines.py): also the Nats-Msg-Id and the orchestrator's inbox id.
    command_id   text        PRIMARY KEY,
    stream_id    text        NOT NULL,
    kind         text        NOT NULL,
    lead_id      text        NOT NULL,
    due_at       timestamptz NOT NULL,
    -- The command to publish: {"type": "TimeoutOffer", "command_id": ..., ...}.
    command      jsonb       NOT NULL,
    -- Set once JetStream acknowledged the command; a timer is published once.
    published_at timestamptz
);

-- The tick's query: what is due and not yet published, oldest first.
CREATE INDEX closer_timers_due ON closer_timers (due_at) WHERE published_at IS NULL;
CREATE INDEX closer_timers_stream ON closer_timers (stream_id);
