-- The board: accounts and their sessions, invitation codes, uploaded media, rate limits.
-- Names, phones and units stay in `people` (0001); nothing here is shown publicly.

-- How a person signs in. Secrets are stored only as hashes.
CREATE TABLE accounts (
    person_id     text PRIMARY KEY REFERENCES people (id),
    login         text NOT NULL,
    password_hash text NOT NULL,  -- argon2id (PHC string), never the password
    role          text NOT NULL CHECK (role IN ('resident', 'staff', 'manager', 'auditor')),
    department    text,  -- staff: their department id in the estate config
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz,
    CHECK (role <> 'staff' OR department IS NOT NULL)
);
CREATE UNIQUE INDEX accounts_login ON accounts (lower(login));

-- Opaque session tokens: the client holds the token, the database its SHA-256, so a
-- leaked table signs nobody in.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    person_id  text NOT NULL REFERENCES accounts (person_id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_person ON sessions (person_id);

-- Codes the manager hands out per building (no SMS gateway here); shown once, kept hashed.
CREATE TABLE invitations (
    id         bigserial PRIMARY KEY,
    code_hash  bytea NOT NULL UNIQUE,
    hint       text NOT NULL,  -- the code's first characters, to tell printed codes apart
    building   text NOT NULL,
    uses_left  integer NOT NULL CHECK (uses_left >= 0),
    expires_at timestamptz NOT NULL,
    created_by text NOT NULL REFERENCES people (id),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- Photos and videos uploaded through the board, checked and stripped of metadata; the
-- file lives under the data directory, this row says whose it is and what it belongs to.
CREATE TABLE media (
    id           uuid PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    owner_id     text NOT NULL REFERENCES people (id),
    purpose      text NOT NULL CHECK (purpose IN ('report', 'info', 'result')),
    kind         text NOT NULL CHECK (kind IN ('photo', 'video')),
    content_type text NOT NULL,
    size_bytes   integer NOT NULL,
    sha256       bytea NOT NULL,
    path         text NOT NULL UNIQUE,  -- relative to the data directory
    created_at   timestamptz NOT NULL
);
CREATE INDEX media_ticket ON media (ticket_id);

-- Fixed-window counters shared by every board worker (failed logins, …).
CREATE TABLE rate_limits (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- Reports carried over when staff merge a duplicate ticket into another: their reporters
-- follow the primary too, and the copy is not a new report (rate limits skip it).
ALTER TABLE ticket_reports ADD COLUMN merged_from bigint REFERENCES tickets (id);

-- A resident's reports: "my reports" and the per-resident report limit read these.
CREATE INDEX ticket_reports_reporter ON ticket_reports (reporter_id, reported_at)
    WHERE reporter_id IS NOT NULL;
-- The staff queue and filtered lists, newest first.
CREATE INDEX tickets_site_state_id ON tickets (site, state, id);
