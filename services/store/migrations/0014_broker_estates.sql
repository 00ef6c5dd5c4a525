-- Broker accounts belong to one estate (issue 14): several estates may share a database
-- and a broker, and a broker login is one username across all of them. An account's
-- estate never changes: `sunlight devices` refuses another estate's account, and this
-- trigger makes sure nothing else moves one either. Existing rows keep their site.
CREATE FUNCTION device_credentials_keep_site() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.site IS DISTINCT FROM OLD.site THEN
        RAISE EXCEPTION 'broker account % belongs to estate %, not %',
            OLD.device_id, OLD.site, NEW.site
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER device_credentials_keep_site
    BEFORE UPDATE OF site ON device_credentials
    FOR EACH ROW EXECUTE FUNCTION device_credentials_keep_site();

CREATE INDEX device_credentials_site ON device_credentials (site);

-- The dead letter's budget: bytes kept per device and hour, and what was dropped past
-- the cap (counted, never silent). One row per (site, device, hour), locked by the
-- batch that adds to it, so several ingest instances share one budget.
CREATE TABLE dead_letter_budget (
    site          text NOT NULL,
    device_id     text NOT NULL,  -- the topic's device part ('' when there is none)
    hour          timestamptz NOT NULL,
    kept_bytes    bigint NOT NULL DEFAULT 0,
    kept          integer NOT NULL DEFAULT 0,
    dropped_bytes bigint NOT NULL DEFAULT 0,
    dropped       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (site, device_id, hour)
);
CREATE INDEX dead_letter_budget_hour ON dead_letter_budget (hour);
