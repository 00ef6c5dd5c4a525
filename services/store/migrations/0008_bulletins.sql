-- Published weekly bulletins (SPEC §4): immutable, hash-chained per site. A correction is
-- a new publication (the next revision of the same week), never an edit.
CREATE TABLE bulletins (
    site         text NOT NULL,
    n            integer NOT NULL CHECK (n >= 1),  -- the site's publications, in order
    week         text NOT NULL CHECK (week ~ '^\d{4}-W\d{2}$'),
    revision     integer NOT NULL CHECK (revision >= 1),
    hash         text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    prev_hash    text NOT NULL,
    published_at timestamptz NOT NULL,
    document     jsonb NOT NULL,  -- exactly what was hashed, plus the hash
    PRIMARY KEY (site, n),
    UNIQUE (site, week, revision)
);

CREATE TRIGGER bulletins_append_only
    BEFORE UPDATE OR DELETE ON bulletins
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER bulletins_no_truncate
    BEFORE TRUNCATE ON bulletins
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- the week's candidates: recently changed tickets of a site
CREATE INDEX tickets_site_updated ON tickets (site, updated_at);
