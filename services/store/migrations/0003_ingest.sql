-- Ingest: the dead letter, device credentials, and the state of sensor rules.

-- Every refused message, with why and its first bytes: nothing is dropped silently.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    reason       text NOT NULL,
    payload      bytea NOT NULL,  -- capped; payload_size is the original size
    payload_size integer NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

-- Device credentials for the broker (hashes only; the password is shown once).
CREATE TABLE device_credentials (
    device_id     text PRIMARY KEY,
    site          text NOT NULL,
    password_hash text NOT NULL,  -- Mosquitto's PBKDF2-SHA512 format
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- One row per (rule, device): where its condition stands. Locked per batch, so several
-- ingest instances judge each device consistently.
CREATE TABLE sensor_conditions (
    rule_id    text NOT NULL,
    device_id  text NOT NULL,
    phase      text NOT NULL CHECK (phase IN ('idle', 'pending', 'active')),
    since      timestamptz,
    last_time  timestamptz,
    last_value double precision,
    ticket_id  bigint REFERENCES tickets (id),
    PRIMARY KEY (rule_id, device_id)
);

-- Latest status per device from the retained status topic and its last will.
CREATE TABLE device_status (
    device_id  text PRIMARY KEY,
    site       text NOT NULL,
    state      text NOT NULL CHECK (state IN ('online', 'offline')),
    since      timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
