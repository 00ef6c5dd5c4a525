-- Signing in (issue 14): logins kept in one normal form, staff numbers per estate, and
-- the counters that slow down password and invitation-code guessing.

-- 1. Logins in their normal form (NFKC, case-folded: services.store.accounts.normal_login),
-- compared by equality. Before, lookups compared lower(login) in PostgreSQL while the
-- lock-out counted Python's lower(): "tİger9" found the account "tiger9" but counted its
-- failures elsewhere. SQL has no case folding, so rows are brought to lower(NFKC) here,
-- which is the same for every ASCII login (all the board ever accepted through its API);
-- the board's normal form is applied to everything it stores or looks up from now on.
-- Two accounts whose logins now coincide: the older keeps the login, each later one is
-- renamed to "<login>~<account id>" (still signs in, typed so) and the audit log says so.
CREATE TEMPORARY TABLE normalised_logins ON COMMIT DROP AS
SELECT person_id, site, login AS old_login,
       lower(normalize(login, NFKC)) AS normal,
       row_number() OVER (PARTITION BY lower(normalize(login, NFKC))
                          ORDER BY created_at, person_id) AS rank
FROM accounts;

DROP INDEX accounts_login;
UPDATE accounts a
   SET login = CASE WHEN n.rank = 1 THEN n.normal ELSE n.normal || '~' || a.person_id END
  FROM normalised_logins n
 WHERE n.person_id = a.person_id;
CREATE UNIQUE INDEX accounts_login ON accounts (login);

INSERT INTO audit_log (site, at, role, action, actor_name, target, summary)
SELECT coalesce(site, ''), now(), 'operator', 'account.login_renamed', 'migration 0016',
       'account:' || person_id,
       'login ' || quote_literal(old_login) || ' became '
           || quote_literal(normal || '~' || person_id)
           || ': another account already signs in as ' || quote_literal(normal)
FROM normalised_logins WHERE rank > 1;

-- 2. Staff numbers belong to an estate: KF-002 may exist in each estate of a database.
-- The account's id (person_id) stays what history, media and sessions refer to; for staff
-- it is their number where that is free, and "<number>@<estate>" where another estate's
-- KF-002 already holds it. Unbound accounts (site NULL) count as one estate of their own.
ALTER TABLE accounts ADD COLUMN staff_number text;
UPDATE accounts SET staff_number = person_id WHERE role = 'staff';
ALTER TABLE accounts ADD CONSTRAINT accounts_staff_number
    CHECK (role <> 'staff' OR staff_number IS NOT NULL);
CREATE UNIQUE INDEX accounts_site_staff_number ON accounts (site, staff_number)
    NULLS NOT DISTINCT WHERE staff_number IS NOT NULL;

-- 3. Failed sign-ins and invitation-code guesses, per account and per client address:
-- after a few free failures each further one must wait a delay that doubles (see
-- services.board.throttle). A try that is too early is refused before any password is
-- hashed, so a throttled guesser costs one indexed read.
CREATE TABLE sign_in_throttle (
    key           text PRIMARY KEY,  -- login:<hash of the normal login>, address:<ip>, join:<ip>
    failures      integer NOT NULL,
    last_failure  timestamptz NOT NULL,
    blocked_until timestamptz NOT NULL
);
CREATE INDEX sign_in_throttle_last_failure ON sign_in_throttle (last_failure);

-- the fixed-window login counters of 0005 are no longer used
DELETE FROM rate_limits WHERE bucket LIKE 'login:%';
