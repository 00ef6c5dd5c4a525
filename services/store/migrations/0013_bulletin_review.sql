-- Issue 14: bulletins as drafts reviewed before sealing, and redactable published text.
--
-- Format 2 bulletins keep, in the append-only `bulletins` table, only a salted digest of
-- each free-text field; the text and its salt live here, outside the hash. A redaction
-- (a correction recorded in the chain) deletes a field's rows: the digest stays, so the
-- chain still verifies, and the text is in no served copy. Rows are never edited.
CREATE TABLE bulletin_texts (
    site  text NOT NULL,
    n     integer NOT NULL,
    field text NOT NULL CHECK (field ~ '^(tickets/\d+/[a-z_]+|reason/\d+)$'),
    salt  text NOT NULL CHECK (salt ~ '^[0-9a-f]{32}$'),
    text  text NOT NULL,
    PRIMARY KEY (site, n, field),
    FOREIGN KEY (site, n) REFERENCES bulletins (site, n)
);

CREATE TRIGGER bulletin_texts_no_update
    BEFORE UPDATE ON bulletin_texts
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();

-- A week's bulletin before it is sealed: built with the week's figures, read and edited
-- (masked, redacted, measures replaced) by the manager and the owners' committee, then
-- sealed into `bulletins` (by hand, or at `seal_by` by the scheduler) and deleted here.
CREATE TABLE bulletin_drafts (
    site       text NOT NULL,
    week       text NOT NULL CHECK (week ~ '^\d{4}-W\d{2}$'),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    seal_by    timestamptz NOT NULL,   -- sealed automatically then if nobody acts
    content    jsonb NOT NULL,         -- the content as it will be sealed (texts masked)
    spans      jsonb NOT NULL DEFAULT '[]',  -- [{field, start, end, kind}]: what to highlight
    PRIMARY KEY (site, week)
);
CREATE INDEX bulletin_drafts_seal_by ON bulletin_drafts (seal_by);

-- the scheduler's own acts (a draft sealed at its deadline) in the audit log
ALTER TABLE audit_log DROP CONSTRAINT audit_log_role_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_role_check
    CHECK (role IN ('staff', 'manager', 'auditor', 'operator', 'anonymous', 'system'));
