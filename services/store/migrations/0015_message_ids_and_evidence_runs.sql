-- Ingest: each device's message ids, and repeated sensor evidence counted per hour.

-- The contract stores a message once by (device, message_id). The readings and events
-- keys include the time (a hypertable's unique index must), so a retry stamped with a new
-- sent_at would be stored again: the ids are claimed here, in the batch's transaction.
-- A plain table (never a hypertable), pruned once an id is older than the horizon
-- (services/store/message_ids.py): 8 days, more than the 7 days a sent_at may lag.
-- Ids are compared byte by byte (COLLATE "C"): they have no linguistic order, and the
-- index is kept up faster so.
CREATE TABLE message_ids (
    device_id  text COLLATE "C" NOT NULL,
    message_id text COLLATE "C" NOT NULL,
    seen_at    timestamptz NOT NULL,  -- when the first copy arrived
    PRIMARY KEY (device_id, message_id)
);
-- rows arrive in time order, so a BRIN index finds the old ones for almost nothing
CREATE INDEX message_ids_seen ON message_ids USING brin (seen_at);
-- Every reading is written through a claim now, and a copy the claims no longer remember
-- (8 days on) has a sent_at too old to be accepted: the readings' own unique index on
-- (device, metric, message, time) guards nothing more, and costs as much as the claim.
-- device_events keeps its index: a status (last will) is accepted at any age.
DROP INDEX readings_message;

-- A flapping sensor recurs and clears on its open ticket again and again. The first of
-- each kind in an hour goes to the ticket's history as before; the rest are counted here
-- (the history is append-only), and once the hour is over one history entry says how
-- many there were, when, and between which values (services/store/evidence_runs.py).
CREATE TABLE evidence_runs (
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    kind      text NOT NULL,  -- what happened: 'recurred', 'cleared'
    hour      timestamptz NOT NULL,  -- the hour it happened in (the sensor's time)
    metric    text NOT NULL,
    count     integer NOT NULL,  -- how many times in that hour, the first one included
    first_at  timestamptz NOT NULL,
    last_at   timestamptz NOT NULL,
    low       double precision NOT NULL,
    high      double precision NOT NULL,
    touched_at timestamptz NOT NULL,  -- when it was last counted (the ingest's clock)
    PRIMARY KEY (ticket_id, kind, hour)
);
CREATE INDEX evidence_runs_hour ON evidence_runs (hour);
