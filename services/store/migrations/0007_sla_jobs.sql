-- SLA timers and notifications: APScheduler's job store, breach claims, and the outbox of
-- messages (residents' status changes, escalations to department heads) that the ticket
-- history itself fills, in the transaction of each change.

-- APScheduler 3's SQLAlchemyJobStore table, made here rather than by the first scheduler
-- to start, so that board workers starting together do not race to create it.
CREATE TABLE sla_jobs (
    id            varchar(191) PRIMARY KEY,  -- sla:{site}:{ticket}:{breach}
    next_run_time double precision,          -- UTC epoch seconds
    job_state     bytea NOT NULL             -- the pickled job
);
CREATE INDEX sla_jobs_next_run_time ON sla_jobs (next_run_time);

-- One row per deadline flagged, inserted ON CONFLICT DO NOTHING in the transaction that
-- flags the ticket: whichever worker's timer fires, a breach is flagged once.
CREATE TABLE sla_breaches (
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    breach     text NOT NULL CHECK (breach IN ('response', 'resolution')),
    due_at     timestamptz NOT NULL,
    flagged_at timestamptz NOT NULL,
    worker     text NOT NULL,
    PRIMARY KEY (ticket_id, breach)
);

-- The outbox: one row per message to send (a history entry, a recipient, a channel).
-- Rows are created by the trigger below, never by hand, so each change is queued once
-- and in the same transaction; workers lease rows, send them, and record the outcome.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    site            text NOT NULL,
    ticket_id       bigint NOT NULL,
    seq             integer NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('status', 'escalation')),
    -- status: the person told; escalation: '' (the department is resolved when sent)
    recipient       text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('mqtt', 'webhook')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    leased_by       text,
    lease_until     timestamptz,
    done_at         timestamptz,
    outcome         text CHECK (outcome IN ('sent', 'skipped', 'failed')),
    target          text,  -- the topic, or the webhook's host (its URL may hold a token)
    last_error      text,
    FOREIGN KEY (ticket_id, seq) REFERENCES ticket_history (ticket_id, seq),
    UNIQUE (ticket_id, seq, recipient, channel),
    CHECK ((done_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX deliveries_pending ON deliveries (site, next_attempt_at) WHERE done_at IS NULL;

-- What is worth a message: a breach flag (escalation); for the people who reported the
-- ticket, each change of state and each question to the reporter. Nobody is told of
-- their own action.
CREATE FUNCTION queue_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action = 'flag_breach' THEN
        INSERT INTO deliveries (site, ticket_id, seq, kind, recipient, channel)
        SELECT t.site, NEW.ticket_id, NEW.seq, 'escalation', '', c.channel
        FROM tickets t, unnest(ARRAY['mqtt', 'webhook']) AS c (channel)
        WHERE t.id = NEW.ticket_id;
    ELSIF NEW.action = 'request_info' THEN
        -- only the reporter can answer
        INSERT INTO deliveries (site, ticket_id, seq, kind, recipient, channel)
        SELECT t.site, NEW.ticket_id, NEW.seq, 'status', t.reporter_id, c.channel
        FROM tickets t, unnest(ARRAY['mqtt', 'webhook']) AS c (channel)
        WHERE t.id = NEW.ticket_id AND t.reporter_id IS NOT NULL
          AND t.reporter_id <> NEW.actor_id;
    ELSIF NEW.from_state IS NOT NULL AND NEW.from_state <> NEW.to_state THEN
        -- the reporter and everyone whose report was linked to this ticket
        INSERT INTO deliveries (site, ticket_id, seq, kind, recipient, channel)
        SELECT t.site, NEW.ticket_id, NEW.seq, 'status', r.person, c.channel
        FROM tickets t
        CROSS JOIN LATERAL (
            SELECT t.reporter_id AS person
            UNION
            SELECT tr.reporter_id FROM ticket_reports tr WHERE tr.ticket_id = t.id
        ) AS r
        CROSS JOIN unnest(ARRAY['mqtt', 'webhook']) AS c (channel)
        WHERE t.id = NEW.ticket_id AND r.person IS NOT NULL AND r.person <> NEW.actor_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ticket_history_deliveries
    AFTER INSERT ON ticket_history
    FOR EACH ROW EXECUTE FUNCTION queue_deliveries();
