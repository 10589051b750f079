-- Events, numbered by their global position. SQLite runs one write
-- transaction at a time, so positions are given in commit order.
CREATE TABLE IF NOT EXISTS {{events}} (
	position       INTEGER PRIMARY KEY,
	stream_id      TEXT    NOT NULL,
	stream_version INTEGER NOT NULL,
	event_id       BLOB    NOT NULL UNIQUE,
	type           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL,
	data           BLOB    NOT NULL,
	correlation_id TEXT    NOT NULL DEFAULT '',
	causation_id   TEXT    NOT NULL DEFAULT '',
	headers        TEXT,             -- JSON object of strings, NULL for none
	recorded_at    INTEGER NOT NULL, -- Unix microseconds
	UNIQUE (stream_id, stream_version)
);

CREATE TABLE IF NOT EXISTS {{snapshots}} (
	stream_id      TEXT    NOT NULL PRIMARY KEY,
	stream_version INTEGER NOT NULL,
	event_id       BLOB    NOT NULL,
	schema_version INTEGER NOT NULL,
	data           BLOB    NOT NULL,
	recorded_at    INTEGER NOT NULL  -- Unix microseconds
) WITHOUT ROWID;
