-- The ticket's state sets for SQL, so that every query says "done" or "open" one way
-- (issue 15). The sets are services/tickets/states.py's; tests/integration/
-- test_state_sets.py reads these functions back and compares them with it, so a change
-- on one side alone fails.
--
-- Each is a LANGUAGE sql IMMUTABLE function of one expression: the planner inlines it
-- and folds the array, so `ticket_is_open(state)` becomes `state <> ALL ('{…}')`, the
-- predicate of migration 0001's partial indexes (tickets_open_place, tickets_due),
-- which stay usable. 0001 spells the done states out itself: migrations are history.
-- Like `IN`, they are NULL for a NULL state.

CREATE FUNCTION ticket_done_states() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ARRAY['resolved', 'closed', 'rejected', 'unresolvable']::text[] $$;

CREATE FUNCTION ticket_fixed_states() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ARRAY['resolved', 'closed']::text[] $$;

CREATE FUNCTION ticket_declined_states() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ARRAY['rejected', 'unresolvable']::text[] $$;

-- nothing is pending on staff: resolved, closed, rejected or unresolvable
CREATE FUNCTION ticket_is_done(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state = ANY (ticket_done_states()) $$;

-- still to be handled
CREATE FUNCTION ticket_is_open(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state <> ALL (ticket_done_states()) $$;

-- done with a fix that stands (resolved or closed)
CREATE FUNCTION ticket_is_fixed(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state = ANY (ticket_fixed_states()) $$;

-- done without a fix (rejected or unresolvable)
CREATE FUNCTION ticket_is_declined(state text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state = ANY (ticket_declined_states()) $$;
