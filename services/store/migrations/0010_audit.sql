-- The audit log (issue 8): every change staff, managers and operators make, and every
-- sign-in to a staff, manager or auditor account (failed ones too). Append-only: the
-- database refuses edits and deletions, so a manager cannot wipe their own traces.
-- Residents' own actions are in each ticket's history; nothing here names a resident.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    site       text NOT NULL,        -- the estate whose board (or command line) it was
    at         timestamptz NOT NULL,
    person_id  text,                 -- the account; NULL: an unknown login, or an operator
    actor_name text NOT NULL DEFAULT '',  -- staff name, or the operator's system user
    role       text NOT NULL CHECK (role IN ('staff', 'manager', 'auditor', 'operator',
                                             'anonymous')),
    action     text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)*$'),  -- ticket.accept, login.failed
    target     text NOT NULL DEFAULT '',  -- ticket:42, building:b3, account:KF-002, week:2026-W48
    address    text,                 -- the client's address as the board saw it
    summary    text NOT NULL DEFAULT ''
);
-- newest first per estate, and one person's or one target's entries
CREATE INDEX audit_log_site_id ON audit_log (site, id);
CREATE INDEX audit_log_person ON audit_log (person_id, id) WHERE person_id IS NOT NULL;
CREATE INDEX audit_log_target ON audit_log (site, target, id);

CREATE FUNCTION refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();
