-- Step 1 of sqliteidempotency's migrations (see Migrations): the table as
-- the release before versioned migrations made it, with the configured names
-- in place of the {{...}} placeholders. Every statement is idempotent.
CREATE TABLE IF NOT EXISTS {{table}} (
	scope          BLOB    NOT NULL,
	key            BLOB    NOT NULL,
	fingerprint    BLOB    NOT NULL,
	completed      INTEGER NOT NULL,
	token          INTEGER NOT NULL,
	attempt        INTEGER NOT NULL,
	outcome        BLOB,
	recovery_point BLOB,
	lease_until    INTEGER NOT NULL, -- Unix milliseconds
	expires_at     INTEGER NOT NULL, -- Unix milliseconds
	PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {{expires_at_index}} ON {{unqualified}} (expires_at);
