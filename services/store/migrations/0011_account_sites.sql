-- Several estates may share one database: each account and each invitation code belongs
-- to one estate (site), and a board lets in only its own (issue 8, "staff see only their
-- site"). NULL: not bound to one estate, as every account was before this migration.
ALTER TABLE accounts ADD COLUMN site text;
ALTER TABLE invitations ADD COLUMN site text;

-- A database whose tickets are all of one estate is that estate's: bind what exists to
-- it. Elsewhere (no tickets yet, or several estates) the estate cannot be told here;
-- such accounts stay unbound until an operator binds them (docs/operations.md).
WITH only_site AS (
    SELECT min(site) AS site FROM tickets HAVING count(DISTINCT site) = 1
)
UPDATE accounts SET site = only_site.site FROM only_site;
WITH only_site AS (
    SELECT min(site) AS site FROM tickets HAVING count(DISTINCT site) = 1
)
UPDATE invitations SET site = only_site.site FROM only_site;

CREATE INDEX accounts_site ON accounts (site);
