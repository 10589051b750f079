-- Step 1 of pgoutbox's migrations (see Migrations): the outbox as the
-- release before versioned migrations made it, with the configured names in
-- place of the {{...}} placeholders. Step 2 runs it again with names that
-- fit in 63 bytes. Every statement is idempotent.

-- Pending messages, in enqueue order (seq). Published messages are deleted,
-- or kept with published_at set when the relay has a retention window.
CREATE TABLE IF NOT EXISTS {{table}} (
	seq          BIGSERIAL   PRIMARY KEY,
	id           UUID        NOT NULL,
	topic        TEXT        NOT NULL,
	key          TEXT        NOT NULL,
	payload      BYTEA       NOT NULL,
	headers      JSONB,
	created_at   TIMESTAMPTZ NOT NULL,
	attempts     INTEGER     NOT NULL DEFAULT 0,
	retry_at     TIMESTAMPTZ,
	last_error   TEXT,
	published_at TIMESTAMPTZ
);
-- Claims scan pending messages in seq order.
CREATE INDEX IF NOT EXISTS {{pending_index}} ON {{table}} (seq) WHERE published_at IS NULL;
-- A key's pending messages in order: the head-of-key check of a claim.
CREATE INDEX IF NOT EXISTS {{key_index}} ON {{table}} (key, seq) WHERE published_at IS NULL;
-- Keys waiting for a retry (few): a claim skips their later messages.
CREATE INDEX IF NOT EXISTS {{retry_index}} ON {{table}} (key) WHERE published_at IS NULL AND retry_at IS NOT NULL;
-- Kept messages, for Cleanup.
CREATE INDEX IF NOT EXISTS {{published_index}} ON {{table}} (published_at) WHERE published_at IS NOT NULL;

-- Dead letters keep their seq, so a replayed message takes its old place.
CREATE TABLE IF NOT EXISTS {{dead_table}} (
	seq        BIGINT      PRIMARY KEY,
	id         UUID        NOT NULL,
	topic      TEXT        NOT NULL,
	key        TEXT        NOT NULL,
	payload    BYTEA       NOT NULL,
	headers    JSONB,
	created_at TIMESTAMPTZ NOT NULL,
	attempts   INTEGER     NOT NULL,
	last_error TEXT        NOT NULL,
	dead_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS {{dead_key_index}} ON {{dead_table}} (key, seq);
CREATE INDEX IF NOT EXISTS {{dead_id_index}} ON {{dead_table}} (id);

-- Every insert (Enqueue, Replay, or the application's own SQL) wakes the
-- listening relays when its transaction commits.
CREATE OR REPLACE FUNCTION {{notify_function}}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify(TG_ARGV[0], '');
	RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS {{notify_trigger}} ON {{table}};
CREATE TRIGGER {{notify_trigger}} AFTER INSERT ON {{table}}
	FOR EACH STATEMENT EXECUTE FUNCTION {{notify_function}}('{{channel}}');
