-- Idempotency keys (the Idempotency-Key header): a client names a request that creates
-- something, and the key is stored in the same transaction as what it created. A retry
-- with the same key (after a lost answer, a timeout, a board that died mid-request) gets
-- the same ticket back instead of filing the report twice.
CREATE TABLE idempotency_keys (
    owner_id    text NOT NULL REFERENCES people (id),  -- keys are per person
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    operation   text NOT NULL,  -- what the key was used for, e.g. 'report'
    fingerprint bytea NOT NULL,  -- SHA-256 of the request: one key, one request
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    created     boolean NOT NULL,  -- false: the report was linked to an open ticket
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (owner_id, key)
);
-- expired keys are removed per person when they file the next keyed request
CREATE INDEX idempotency_keys_owner_age ON idempotency_keys (owner_id, created_at);
