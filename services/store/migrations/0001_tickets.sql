-- Tickets, their append-only history, and the personal data kept apart from them.

-- Personal data (SPEC §4 privacy): only this table holds names, phones and units.
-- Public outputs read `public_tickets`, which cannot reach it.
CREATE TABLE people (
    id          text PRIMARY KEY,
    role        text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    phone       text,
    building    text,
    unit        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tickets (
    id                      bigserial PRIMARY KEY,
    site                    text NOT NULL,
    category                text NOT NULL,
    priority                text NOT NULL,
    source                  text NOT NULL CHECK (source IN ('resident', 'staff', 'camera', 'sensor')),
    channel                 text NOT NULL,
    state                   text NOT NULL,
    description             text NOT NULL,
    building                text,
    area                    text NOT NULL,
    asset                   text,
    opened_at               timestamptz NOT NULL,
    sla_respond             interval NOT NULL,
    sla_resolve             interval NOT NULL,
    respond_due_at          timestamptz NOT NULL,
    resolve_due_at          timestamptz NOT NULL,
    reporter_id             text REFERENCES people (id),
    department              text NOT NULL DEFAULT '',
    assignee                text NOT NULL DEFAULT '',
    responded_at            timestamptz,
    resolved_at             timestamptz,
    closed_at               timestamptz,
    result_notes            text NOT NULL DEFAULT '',
    result_photos           text[] NOT NULL DEFAULT '{}',
    reason                  text NOT NULL DEFAULT '',
    reopen_count            smallint NOT NULL DEFAULT 0,
    rating                  smallint CHECK (rating BETWEEN 1 AND 5),
    rating_comment          text NOT NULL DEFAULT '',
    awaiting_reporter_since timestamptz,
    paused_total            interval NOT NULL DEFAULT '0',
    extra_reporters         integer NOT NULL DEFAULT 0,
    breaches                text[] NOT NULL DEFAULT '{}',
    -- one ongoing machine-found condition opens one ticket
    finding_key             text UNIQUE,
    version                 integer NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL
);

CREATE INDEX tickets_site_opened ON tickets (site, opened_at);
CREATE INDEX tickets_open_place ON tickets (site, category, building, area)
    WHERE state NOT IN ('resolved', 'closed', 'rejected', 'unresolvable');
CREATE INDEX tickets_due ON tickets (respond_due_at, resolve_due_at)
    WHERE state NOT IN ('resolved', 'closed', 'rejected', 'unresolvable');

CREATE TABLE ticket_history (
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor_id    text NOT NULL,
    actor_role  text NOT NULL,
    actor_name  text NOT NULL DEFAULT '',
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    note        text NOT NULL DEFAULT '',
    data        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (ticket_id, seq)
);

-- The history is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket_history is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ticket_history_append_only
    BEFORE UPDATE OR DELETE ON ticket_history
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER ticket_history_no_truncate
    BEFORE TRUNCATE ON ticket_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- Every report that was linked to a ticket as a duplicate ("+N residents reported").
CREATE TABLE ticket_reports (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    reported_at timestamptz NOT NULL,
    reporter_id text REFERENCES people (id),
    source      text NOT NULL,
    channel     text NOT NULL,
    description text NOT NULL DEFAULT '',
    photos      text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_reports_ticket ON ticket_reports (ticket_id);

-- What the public and the auditors read: no reporter, no personal data.
CREATE VIEW public_tickets AS
SELECT id, site, category, priority, source, channel, state, description, building, area,
       asset, opened_at, respond_due_at, resolve_due_at, department, assignee, responded_at,
       resolved_at, closed_at, result_notes, result_photos, reason, reopen_count, rating,
       extra_reporters, breaches, updated_at
FROM tickets;
