-- The checkpoints of bulwark's cqrs projections (pgcqrs). Migrate runs this
-- file with the configured table name in place of {{table}}; it is
-- idempotent, so it can run at every start.

-- One row per projection version. Rows are updated in place at every batch
-- (never their key), so a low fill factor keeps the updates HOT.
CREATE TABLE IF NOT EXISTS {{table}} (
	name            TEXT        NOT NULL,
	version         INTEGER     NOT NULL,
	position        BIGINT      NOT NULL DEFAULT 0,
	live            BOOLEAN     NOT NULL DEFAULT false,
	owner           TEXT        NOT NULL DEFAULT '',
	lease_until     TIMESTAMPTZ,
	failed_position BIGINT      NOT NULL DEFAULT 0,
	failed_error    TEXT        NOT NULL DEFAULT '',
	failed_at       TIMESTAMPTZ,
	updated_at      TIMESTAMPTZ,
	PRIMARY KEY (name, version)
) WITH (fillfactor = 50);
