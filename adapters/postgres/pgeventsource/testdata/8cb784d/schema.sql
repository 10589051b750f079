-- Events, one row each, numbered by their global position.
CREATE TABLE IF NOT EXISTS {{events}} (
	position       bigint      NOT NULL PRIMARY KEY,
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
	UNIQUE (stream_id, stream_version)
);

-- Hands out global positions. An append's range is taken from it under a
-- short session lock (see the append function); a rolled-back append leaves
-- its range unused.
CREATE SEQUENCE IF NOT EXISTS {{sequence}};

CREATE TABLE IF NOT EXISTS {{snapshots}} (
	stream_id      text        NOT NULL PRIMARY KEY,
	stream_version bigint      NOT NULL,
	event_id       uuid        NOT NULL,
	schema_version integer     NOT NULL,
	data           bytea       NOT NULL,
	recorded_at    timestamptz NOT NULL
);

-- The advisory lock that marks position p as the start of an append still
-- in flight: (events table, low 32 bits of p). Readers probe it for the
-- positions they find missing below committed ones.
CREATE OR REPLACE FUNCTION {{inflight}}(p bigint) RETURNS integer
LANGUAGE sql IMMUTABLE AS $fn$ SELECT (p % 4294967296 - 2147483648)::integer $fn$;

-- Appends events to a stream. Status: 0 appended, 1 a repeat of a stored
-- append (version and position are the stored ones), 2 version conflict
-- (version is the stream's). Reusing a stored event ID otherwise fails the
-- insert with a unique violation on event_id.
--
-- The stream's advisory lock, held until the transaction ends, makes
-- appends to one stream run one at a time, so the version check and the
-- insert see the same stream. Appends to different streams run, and
-- commit, in parallel.
--
-- Gap safety. Positions are taken from the sequence in one short critical
-- section (a session lock around nextval): there the append also takes the
-- in-flight lock of its first position, held until its transaction ends.
-- So by the time any later position is handed out, and a fortiori
-- committed, every earlier range is either visibly committed, rolled back,
-- or marked in flight; a reader that finds a position missing below a
-- committed one can tell which (see ReadAll).
CREATE OR REPLACE FUNCTION {{append}}(
	p_stream text, p_expected bigint, p_ids uuid[], p_types text[], p_schemas integer[],
	p_data bytea[], p_correlations text[], p_causations text[], p_headers jsonb[], p_at timestamptz,
	p_notify boolean)
RETURNS TABLE (status integer, version bigint, last_position bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
	n             integer := cardinality(p_ids);
	events_oid    integer := '{{events}}'::regclass::oid::integer;
	sequence_oid  integer := '{{sequence}}'::regclass::oid::integer;
	cur           bigint;
	found_stream  text;
	found_version bigint;
	first         bigint;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'bulwark eventsource: appends need READ COMMITTED isolation, not %', current_setting('transaction_isolation');
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, events_oid));

	-- A repeat of a stored append: same stream, same events from the same
	-- version, an expected version that agrees.
	SELECT e.stream_id, e.stream_version INTO found_stream, found_version
	FROM {{events}} e WHERE e.event_id = p_ids[1];
	IF FOUND AND found_stream = p_stream AND (p_expected = -1 OR p_expected = found_version - 1)
		AND (SELECT count(*) FROM unnest(p_ids) WITH ORDINALITY AS u(id, o)
		     JOIN {{events}} e ON e.stream_id = p_stream AND e.stream_version = found_version + u.o - 1 AND e.event_id = u.id) = n
	THEN
		RETURN QUERY SELECT 1, found_version + n - 1, e.position
			FROM {{events}} e WHERE e.stream_id = p_stream AND e.stream_version = found_version + n - 1;
		RETURN;
	END IF;

	SELECT coalesce(max(e.stream_version), 0) INTO cur FROM {{events}} e WHERE e.stream_id = p_stream;
	IF p_expected >= 0 AND cur <> p_expected THEN
		RETURN QUERY SELECT 2, cur, 0::bigint;
		RETURN;
	END IF;
	-- An event ID stored before is refused by the unique index on insert.

	BEGIN
		PERFORM pg_advisory_lock(sequence_oid, 0);
		first := nextval('{{sequence}}');
		IF n > 1 THEN
			PERFORM setval('{{sequence}}', first + n - 1);
		END IF;
		PERFORM pg_advisory_xact_lock(events_oid, {{inflight}}(first));
		PERFORM pg_advisory_unlock(sequence_oid, 0);
	EXCEPTION WHEN OTHERS THEN
		PERFORM pg_advisory_unlock(sequence_oid, 0);
		RAISE;
	END;

	INSERT INTO {{events}} (position, stream_id, stream_version, event_id, type, schema_version, data,
		correlation_id, causation_id, headers, recorded_at)
	SELECT first + u.o - 1, p_stream, cur + u.o, u.id, u.t, u.s, u.d, u.c, u.k, u.h, p_at
	FROM unnest(p_ids, p_types, p_schemas, p_data, p_correlations, p_causations, p_headers)
		WITH ORDINALITY AS u(id, t, s, d, c, k, h, o);
	IF p_notify THEN
		PERFORM pg_notify({{channel}}, '');
	END IF;
	RETURN QUERY SELECT 0, cur + n, first + n - 1;
END
$fn$;

-- Reports which of the given positions are the start of an append still in
-- flight: it tries each one's in-flight lock in shared mode, without
-- waiting (releasing it at once when it gets it), so probes do not disturb
-- each other.
CREATE OR REPLACE FUNCTION {{probe}}(p_positions bigint[]) RETURNS bigint[]
LANGUAGE sql AS $fn$
	SELECT coalesce(array_agg(p ORDER BY p), '{}') FROM unnest(p_positions) AS p
	WHERE CASE WHEN pg_try_advisory_lock_shared('{{events}}'::regclass::oid::integer, {{inflight}}(p))
		THEN NOT pg_advisory_unlock_shared('{{events}}'::regclass::oid::integer, {{inflight}}(p))
		ELSE true END
$fn$;
