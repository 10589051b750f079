-- The checkpoints of bulwark's cqrs projections (sqlitecqrs). Migrate runs
-- this file with the configured table name in place of {{table}}; it is
-- idempotent, so it can run at every start.

-- One row per projection version; times in Unix microseconds, NULL for
-- none.
CREATE TABLE IF NOT EXISTS {{table}} (
	name            TEXT    NOT NULL,
	version         INTEGER NOT NULL,
	position        INTEGER NOT NULL DEFAULT 0,
	live            INTEGER NOT NULL DEFAULT 0,
	owner           TEXT    NOT NULL DEFAULT '',
	lease_until     INTEGER,
	failed_position INTEGER NOT NULL DEFAULT 0,
	failed_error    TEXT    NOT NULL DEFAULT '',
	failed_at       INTEGER,
	updated_at      INTEGER,
	PRIMARY KEY (name, version)
) WITHOUT ROWID;
