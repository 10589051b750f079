-- One row per saga: the orchestrator's log of where it stands. Every
-- transition rewrites the row, fenced by version. Times are Unix
-- microseconds; year 1 (the zero time) means no deadline, or a released
-- lease.
CREATE TABLE IF NOT EXISTS {{table}} (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'needs_attention', 'abandoned')),
	step        INTEGER NOT NULL,
	data        BLOB    NOT NULL,
	error       TEXT    NOT NULL,
	deadline    INTEGER NOT NULL,
	owner       TEXT    NOT NULL,
	lease_until INTEGER NOT NULL,
	version     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Claim looks for unfinished sagas of one definition whose lease ended.
CREATE INDEX IF NOT EXISTS {{claim_index}} ON {{unqualified}} (name, lease_until)
	WHERE status IN ('running', 'compensating');

-- Operators list sagas by status (needs_attention) page by page.
CREATE INDEX IF NOT EXISTS {{status_index}} ON {{unqualified}} (status, id);
