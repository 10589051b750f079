-- Step 1 of pgsaga's migrations (see Migrations): the table as the release
-- before versioned migrations made it, with the configured names in place of
-- the {{...}} placeholders. Step 2 runs it again with names that fit in 63
-- bytes. Every statement is idempotent.

-- One row per saga: the orchestrator's log of where it stands. Every
-- transition rewrites the row, fenced by version.
CREATE TABLE IF NOT EXISTS {{table}} (
	id          text        PRIMARY KEY,
	name        text        NOT NULL,
	status      text        NOT NULL CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'needs_attention', 'abandoned')),
	step        integer     NOT NULL,
	data        bytea       NOT NULL,
	error       text        NOT NULL,
	deadline    timestamptz NOT NULL, -- 0001-01-01: none
	owner       text        NOT NULL,
	lease_until timestamptz NOT NULL, -- 0001-01-01: released
	version     bigint      NOT NULL,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);

-- Claim looks for unfinished sagas of one definition whose lease ended.
CREATE INDEX IF NOT EXISTS {{claim_index}} ON {{table}} (name, lease_until)
	WHERE status IN ('running', 'compensating');

-- Operators list sagas by status (needs_attention) page by page.
CREATE INDEX IF NOT EXISTS {{status_index}} ON {{table}} (status, id);
