-- Step 1 of pgidempotency's migrations (see Migrations): the table as the
-- release before versioned migrations made it, with the configured names in
-- place of the {{...}} placeholders. Step 2 runs it again with names that
-- fit in 63 bytes. Every statement is idempotent.
CREATE TABLE IF NOT EXISTS {{table}} (
	scope          BYTEA       NOT NULL,
	key            BYTEA       NOT NULL,
	fingerprint    BYTEA       NOT NULL,
	completed      BOOLEAN     NOT NULL,
	token          BIGINT      NOT NULL,
	attempt        INTEGER     NOT NULL,
	outcome        BYTEA,
	recovery_point BYTEA,
	lease_until    TIMESTAMPTZ NOT NULL,
	expires_at     TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS {{expires_at_index}} ON {{table}} (expires_at);
