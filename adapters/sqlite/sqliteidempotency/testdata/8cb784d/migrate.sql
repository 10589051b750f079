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
CREATE INDEX IF NOT EXISTS {{index}} ON {{unqualified}} (expires_at);
