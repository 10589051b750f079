-- Step 1 of sqlitecqrs's migrations (see Migrations): the checkpoints of
-- bulwark's cqrs projections, as the release before versioned migrations
-- made them, with the configured table name in place of {{table}}. Every
-- statement is idempotent.

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
