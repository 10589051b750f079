-- Events, one row each, found by stream and version. The global order is
-- kept in the log table, one row per append.
CREATE TABLE IF NOT EXISTS {{events}} (
	stream_id      text        NOT NULL,
	stream_version bigint      NOT NULL,
	event_id       uuid        NOT NULL UNIQUE,
	type           text        NOT NULL,
	schema_version integer     NOT NULL,
	data           bytea       NOT NULL,
	correlation_id text        NOT NULL DEFAULT '',
	causation_id   text        NOT NULL DEFAULT '',
	headers        jsonb,
	recorded_at    timestamptz NOT NULL,
	PRIMARY KEY (stream_id, stream_version)
);

-- The global log: an append of count events to stream_id, from
-- first_version, holds the global positions position .. position+count-1.
-- Rows are inserted in position order by transactions that commit in that
-- order (see the append function), so a reader never sees a gap fill late.
CREATE TABLE IF NOT EXISTS {{log}} (
	position      bigint  NOT NULL PRIMARY KEY,
	stream_id     text    NOT NULL,
	first_version bigint  NOT NULL,
	count         integer NOT NULL,
	UNIQUE (stream_id, first_version)
);

CREATE TABLE IF NOT EXISTS {{snapshots}} (
	stream_id      text        NOT NULL PRIMARY KEY,
	stream_version bigint      NOT NULL,
	event_id       uuid        NOT NULL,
	schema_version integer     NOT NULL,
	data           bytea       NOT NULL,
	recorded_at    timestamptz NOT NULL
);

-- Appends events to a stream in one call. Status: 0 appended, 1 a repeat of
-- a stored append (version and position are the stored ones), 2 version
-- conflict (version is the stream's), 3 duplicate event ID (in duplicate).
--
-- Locks, in this order, all held until the transaction ends:
--   1. the stream's advisory lock: appends to one stream run one at a time,
--      so the version check and the insert see the same stream;
--   2. the log's advisory lock, taken last, after the events are inserted:
--      log rows are inserted, and commit, in position order. The heavy part
--      (the event rows) runs in parallel across streams; only the log row
--      and the commit are serialized.
-- A transaction that already holds the log lock (it appended to another
-- stream) must not wait for a stream lock: the holder of that stream lock
-- may be waiting for the log lock. It tries the lock and fails with 40001
-- (serialization_failure, retry the transaction) if the stream is busy.
CREATE OR REPLACE FUNCTION {{append}}(
	p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_schemas integer[],
	p_data bytea[], p_correlations text[], p_causations text[], p_headers jsonb[], p_at timestamptz)
RETURNS TABLE (status integer, version bigint, last_position bigint, duplicate uuid)
LANGUAGE plpgsql AS $fn$
DECLARE
	n             integer := cardinality(p_ids);
	events_lock   integer := '{{events}}'::regclass::oid::integer;
	log_lock      integer := '{{log}}'::regclass::oid::integer;
	holds_log     boolean := current_setting('bulwark_eventsource.log_' || log_lock, true) IS NOT DISTINCT FROM 'held';
	cur           bigint;
	found_stream  text;
	found_version bigint;
	dup           uuid;
	next_position bigint;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'bulwark eventsource: appends need READ COMMITTED isolation, not %', current_setting('transaction_isolation');
	END IF;
	IF NOT holds_log THEN
		PERFORM pg_advisory_xact_lock(events_lock, hashtext(p_stream));
	ELSIF NOT pg_try_advisory_xact_lock(events_lock, hashtext(p_stream)) THEN
		RAISE EXCEPTION 'bulwark eventsource: stream % is being appended to by another transaction, and this transaction already appended to another stream; roll back and retry', quote_literal(p_stream)
			USING ERRCODE = 'serialization_failure';
	END IF;

	-- A repeat of a stored append: same stream, same events from the same
	-- version, an expected version that agrees.
	SELECT e.stream_id, e.stream_version INTO found_stream, found_version
	FROM {{events}} e WHERE e.event_id = p_ids[1];
	IF FOUND AND found_stream = p_stream AND (p_expected = -1 OR p_expected = found_version - 1)
		AND (SELECT count(*) FROM unnest(p_ids) WITH ORDINALITY AS u(id, o)
		     JOIN {{events}} e ON e.stream_id = p_stream AND e.stream_version = found_version + u.o - 1 AND e.event_id = u.id) = n
	THEN
		RETURN QUERY SELECT 1, found_version + n - 1,
			(SELECT l.position - l.first_version FROM {{log}} l
			 WHERE l.stream_id = p_stream AND l.first_version <= found_version + n - 1
			 ORDER BY l.first_version DESC LIMIT 1) + found_version + n - 1,
			NULL::uuid;
		RETURN;
	END IF;

	SELECT coalesce(max(e.stream_version), 0) INTO cur FROM {{events}} e WHERE e.stream_id = p_stream;
	IF p_expected >= 0 AND cur <> p_expected THEN
		RETURN QUERY SELECT 2, cur, 0::bigint, NULL::uuid;
		RETURN;
	END IF;
	SELECT e.event_id INTO dup FROM {{events}} e WHERE e.event_id = ANY (p_ids) LIMIT 1;
	IF FOUND THEN
		RETURN QUERY SELECT 3, cur, 0::bigint, dup;
		RETURN;
	END IF;

	INSERT INTO {{events}} (stream_id, stream_version, event_id, type, schema_version, data,
		correlation_id, causation_id, headers, recorded_at)
	SELECT p_stream, cur + u.o, u.id, u.t, u.s, u.d, u.c, u.k, u.h, p_at
	FROM unnest(p_ids, p_types, p_schemas, p_data, p_correlations, p_causations, p_headers)
		WITH ORDINALITY AS u(id, t, s, d, c, k, h, o);

	PERFORM pg_advisory_xact_lock(log_lock, 0);
	PERFORM set_config('bulwark_eventsource.log_' || log_lock, 'held', true);
	SELECT coalesce((SELECT l.position + l.count FROM {{log}} l ORDER BY l.position DESC LIMIT 1), 1)
		INTO next_position;
	INSERT INTO {{log}} (position, stream_id, first_version, count) VALUES (next_position, p_stream, cur + 1, n);
	PERFORM pg_notify({{channel}}, '');
	RETURN QUERY SELECT 0, cur + n, next_position + n - 1, NULL::uuid;
END
$fn$;
