-- The append-only event store: events, the inbox of handled messages, consumer checkpoints.
-- See DESIGN.md "Event store (PostgreSQL)". Applied once by eventstore.migrations; never edit after release.

CREATE TABLE events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version >= 1),
    event_id        uuid        NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    -- Objects only: readers build envelopes from these rows without re-validating them (postgres.py).
    data            jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    metadata        jsonb       NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    -- The writing transaction: readers of the global order use it to never skip a late commit.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Optimistic concurrency: the last guard against two writers taking the same version.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- Gap-safe reading of the global order: WHERE (transaction_id, global_position) > checkpoint.
CREATE INDEX events_transaction_order ON events (transaction_id, global_position);

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % on table events is refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'record a compensating event instead';
END;
$$;

CREATE TRIGGER events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_refuse_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Handled inbound messages (wamid, command id): an append carrying an inbox id commits at most once.
CREATE TABLE inbox (
    message_id     text        PRIMARY KEY,
    stream_id      text        NOT NULL,
    stream_version integer     NOT NULL,  -- the stream's version right after that append
    handled_at     timestamptz NOT NULL DEFAULT now()
);

-- Where each consumer of the global order is; written in the same transaction as its effects.
CREATE TABLE checkpoints (
    consumer        text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One round trip per append: inbox, version check, events (and NOTIFY when asked). Returns one row:
--   outcome 'appended' | 'conflict' (nothing written) | 'handled' (inbox id seen before, nothing written),
--   the stream version (after the append, the current one on conflict, the recorded one when handled),
--   and the last event's (transaction_id, global_position) when events were written.
-- p_expected_version < 0 means "any version": no check, the next free versions are taken.
-- A concurrent writer that took the same version makes the INSERT fail on events_stream_version_key
-- (unique_violation): the client maps it to a concurrency error; the whole call is rolled back.
-- p_notify: NOTIFY inside this transaction. Every notifying transaction holds one cluster-wide lock
-- through its commit (and its WAL flush), which serialises concurrent appenders; the store's own
-- autocommit appends therefore pass false and notify afterwards, coalesced, from another connection.
CREATE FUNCTION eventstore_append(
    p_stream_id        text,
    p_expected_version integer,
    p_inbox_id         text,
    p_event_ids        uuid[],
    p_types            text[],
    p_schema_versions  integer[],
    p_data             jsonb[],
    p_metadata         jsonb[],
    p_notify           boolean,
    OUT outcome         text,
    OUT stream_version  integer,
    OUT transaction_id  xid8,
    OUT global_position bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_count   integer := coalesce(cardinality(p_event_ids), 0);
    v_current integer;
BEGIN
    IF p_inbox_id IS NOT NULL THEN
        SELECT i.stream_version INTO stream_version FROM inbox i WHERE i.message_id = p_inbox_id;
        IF FOUND THEN
            outcome := 'handled';
            RETURN;
        END IF;
    END IF;

    SELECT e.stream_version INTO v_current FROM events e
    WHERE e.stream_id = p_stream_id ORDER BY e.stream_version DESC LIMIT 1;
    v_current := coalesce(v_current, 0);
    IF p_expected_version >= 0 AND v_current <> p_expected_version THEN
        IF p_inbox_id IS NOT NULL THEN
            -- The same message may have been appended by another delivery since our first look (each
            -- statement here sees what committed before it): that is a duplicate, not a conflict.
            SELECT i.stream_version INTO stream_version FROM inbox i WHERE i.message_id = p_inbox_id;
            IF FOUND THEN
                outcome := 'handled';
                RETURN;
            END IF;
        END IF;
        outcome := 'conflict';
        stream_version := v_current;
        RETURN;
    END IF;

    IF p_inbox_id IS NOT NULL THEN
        -- Waits for a concurrent append with the same id; if that one commits, we are a duplicate.
        INSERT INTO inbox (message_id, stream_id, stream_version)
        VALUES (p_inbox_id, p_stream_id, v_current + v_count)
        ON CONFLICT (message_id) DO NOTHING;
        IF NOT FOUND THEN
            SELECT i.stream_version INTO stream_version FROM inbox i WHERE i.message_id = p_inbox_id;
            outcome := 'handled';
            RETURN;
        END IF;
    END IF;

    IF v_count = 1 THEN
        -- The common case, without unnest and sort: about a third cheaper on the server.
        INSERT INTO events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
        VALUES (p_stream_id, v_current + 1, p_event_ids[1], p_types[1], p_schema_versions[1], p_data[1],
                p_metadata[1])
        RETURNING events.global_position INTO global_position;
    ELSIF v_count > 1 THEN
        WITH inserted AS (
            INSERT INTO events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
            SELECT p_stream_id, v_current + u.ord::integer, u.event_id, u.type, u.schema_version, u.data,
                   u.metadata
            FROM unnest(p_event_ids, p_types, p_schema_versions, p_data, p_metadata)
                 WITH ORDINALITY AS u(event_id, type, schema_version, data, metadata, ord)
            ORDER BY u.ord  -- global positions follow stream versions
            RETURNING events.global_position
        )
        SELECT max(inserted.global_position) INTO global_position FROM inserted;
    END IF;

    IF v_count > 0 THEN
        transaction_id := pg_current_xact_id();
        IF p_notify THEN
            -- Delivered at commit, only if we commit. The payload carries nothing: it is a wake-up.
            PERFORM pg_notify('events', '');
        END IF;
    END IF;
    outcome := 'appended';
    stream_version := v_current + v_count;
END;
$$;
