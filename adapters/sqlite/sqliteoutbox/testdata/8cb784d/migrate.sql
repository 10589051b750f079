-- The outbox of bulwark's sqliteoutbox. Migrate runs this file with the
-- configured names in place of the {{...}} placeholders; every statement is
-- idempotent. Times are Unix nanoseconds.

-- Pending messages in enqueue order (seq; AUTOINCREMENT never reuses a
-- value, so a replayed dead letter takes back its own place). A claim
-- holds a key by leasing its oldest pending message (claim_token,
-- claimed_until).
CREATE TABLE IF NOT EXISTS {{table}} (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            TEXT    NOT NULL,
	topic         TEXT    NOT NULL,
	key           TEXT    NOT NULL,
	payload       BLOB    NOT NULL,
	headers       TEXT,
	created_at    INTEGER NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	retry_at      INTEGER,
	last_error    TEXT,
	published_at  INTEGER,
	claim_token   TEXT,
	claimed_until INTEGER
);
CREATE INDEX IF NOT EXISTS {{pending_index}} ON {{table}} (seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS {{key_index}} ON {{table}} (key, seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS {{retry_index}} ON {{table}} (key) WHERE published_at IS NULL AND retry_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS {{published_index}} ON {{table}} (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS {{dead_table}} (
	seq        INTEGER PRIMARY KEY,
	id         TEXT    NOT NULL,
	topic      TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	headers    TEXT,
	created_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL,
	last_error TEXT    NOT NULL,
	dead_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS {{dead_key_index}} ON {{dead_table}} (key, seq);
CREATE INDEX IF NOT EXISTS {{dead_id_index}} ON {{dead_table}} (id);
