-- Read models of the operator API, built from the event store by the projections (projections/*).
-- Every row here can be rebuilt from the events (`conectapro projections rebuild`): nothing in this schema
-- is a source of truth. Each projection keeps its checkpoint in `checkpoints` as `projection-<name>` and
-- writes it in the same transaction as its rows. Applied once by eventstore.migrations; never edit.

CREATE SCHEMA read_models;

-- projection "leads": one row per lead, keyed by the lead id (`<customer_key>.<n>`).
CREATE TABLE read_models.leads (
    lead_id         text        PRIMARY KEY,
    customer_key    text        NOT NULL,
    customer_phone  text,
    status          text        NOT NULL,
    service         text,
    comuna          text,
    urgency         text,
    problem         text,
    address         text,
    consent         boolean     NOT NULL,
    match_attempts  integer     NOT NULL,
    offered_to      text,
    provider_id     text,
    provider_name   text,
    provider_phone  text,
    rating          integer,
    end_reason      text,
    created_at      timestamptz NOT NULL,
    submitted_at    timestamptz,
    offered_at      timestamptz,
    assigned_at     timestamptz,
    completed_at    timestamptz,
    rated_at        timestamptz,
    closed_at       timestamptz,
    updated_at      timestamptz NOT NULL,
    version         integer     NOT NULL
);
-- The operator API lists newest first and pages on (created_at, lead_id).
CREATE INDEX leads_newest_first ON read_models.leads (created_at DESC, lead_id DESC);
CREATE INDEX leads_by_status ON read_models.leads (status, created_at DESC, lead_id DESC);
CREATE INDEX leads_by_customer ON read_models.leads (customer_key, created_at DESC);

-- projection "conversations": one row per customer stream (`customer-<customer_key>`).
CREATE TABLE read_models.conversations (
    customer_key        text        PRIMARY KEY,
    phone               text,
    profile_name        text,
    state               text        NOT NULL,
    pending_question    text        NOT NULL,
    current_lead_id     text,
    current_lead_status text,
    fields              jsonb       NOT NULL,
    leads_started       integer     NOT NULL,
    messages_in         integer     NOT NULL,
    messages_out        integer     NOT NULL,
    -- The last few messages in and out, oldest first (the timeline endpoint has all of them).
    recent_messages     jsonb       NOT NULL,
    started_at          timestamptz NOT NULL,
    last_message_at     timestamptz,
    updated_at          timestamptz NOT NULL,
    version             integer     NOT NULL
);
CREATE INDEX conversations_by_state ON read_models.conversations (state);

-- projection "technicians": one row per technician, folded from provider AND lead events.
CREATE TABLE read_models.technicians (
    provider_id      text        PRIMARY KEY,
    name             text        NOT NULL,
    phone            text        NOT NULL,
    services         jsonb       NOT NULL,
    comunas          jsonb       NOT NULL,
    capacity         integer     NOT NULL,
    active           boolean     NOT NULL,
    active_leads     jsonb       NOT NULL,
    pending_offers   jsonb       NOT NULL,
    active_jobs      integer     NOT NULL,
    jobs_completed   integer     NOT NULL,
    rating_sum       integer     NOT NULL,
    rating_count     integer     NOT NULL,
    rating_avg       double precision,
    last_assigned_at timestamptz,
    registered_at    timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- projection "outbound": every reply we decided to send and what became of it ...
CREATE TABLE read_models.outbound_messages (
    reply_id        uuid        PRIMARY KEY,
    stream_id       text        NOT NULL,
    lead_id         text,
    recipient       text,
    provider_id     text,
    to_phone        text,
    purpose         text,
    kind            text,
    text            text,
    in_reply_to     text,
    status          text        NOT NULL,
    queued_at       timestamptz,
    wamid           text,
    sent_at         timestamptz,
    attempts        integer     NOT NULL,
    reworded        boolean     NOT NULL,
    failed_at       timestamptz,
    error_code      integer,
    http_status     integer,
    failure_reason  text,
    permanent       boolean,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX outbound_by_stream ON read_models.outbound_messages (stream_id, queued_at);
CREATE INDEX outbound_by_wamid ON read_models.outbound_messages (wamid) WHERE wamid IS NOT NULL;

-- ... and the delivery statuses Meta reported, by the wamid of the sent message. Kept apart because a status
-- may be projected before the ReplySent that names its wamid: the view below joins them in either order.
CREATE TABLE read_models.delivery_statuses (
    wamid         text        PRIMARY KEY,
    stream_id     text        NOT NULL,
    status        text        NOT NULL,
    sent_at       timestamptz,
    delivered_at  timestamptz,
    read_at       timestamptz,
    failed_at     timestamptz,
    error_code    integer,
    error_title   text,
    updates       integer     NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE VIEW read_models.outbound_with_delivery AS
SELECT o.*,
       d.status       AS delivery_status,
       d.delivered_at AS delivered_at,
       d.read_at      AS read_at,
       d.error_code   AS delivery_error_code,
       d.error_title  AS delivery_error_title
FROM read_models.outbound_messages o
LEFT JOIN read_models.delivery_statuses d ON d.wamid = o.wamid;

-- projection "daily_counters": one row per day (America/Santiago), from each event's recorded_at.
CREATE TABLE read_models.daily_counters (
    day               date    PRIMARY KEY,
    leads_created     integer NOT NULL,
    leads_submitted   integer NOT NULL,
    leads_assigned    integer NOT NULL,
    leads_completed   integer NOT NULL,
    leads_rated       integer NOT NULL,
    leads_cancelled   integer NOT NULL,
    leads_expired     integer NOT NULL,
    leads_unmatched   integer NOT NULL,
    leads_closed      integer NOT NULL,
    messages_in       integer NOT NULL,
    messages_out      integer NOT NULL,
    replies_sent      integer NOT NULL,
    replies_failed    integer NOT NULL,
    delivery_failures integer NOT NULL
);
