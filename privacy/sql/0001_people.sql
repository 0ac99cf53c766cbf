-- People whose personal data the event store holds sealed: one row per person, holding their data key
-- wrapped by the master key (PRIVACY_MASTER_KEY) and the keyed lookup of their phone number. Erasure
-- deletes the row: the key and the phone -> person mapping die together, and every sealed field of the
-- person's events becomes unreadable for good. The only table erasure deletes from.
-- Applied once by eventstore.migrations (namespace "privacy"); never edit after release.

CREATE TABLE privacy_people (
    -- Random, never derived from the phone (new people); a stream's suffix: customer-<person_key>.
    person_key   text        PRIMARY KEY,
    -- HMAC-SHA256 of the phone number under a key derived from the master key: no dictionary of the
    -- 10^8 Chilean mobile numbers reverses it without that key.
    phone_lookup bytea       UNIQUE,
    -- AES-256 data key, wrapped (AES-GCM, the person key as associated data) by the master key.
    wrapped_key  bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
