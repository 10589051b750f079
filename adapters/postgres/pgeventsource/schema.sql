-- Step 1 of pgeventsource's migrations (see Migrations), with the
-- configured names in place of the {{...}} placeholders. Its tables and
-- sequence are those of the release before versioned migrations, and its
-- functions replace that release's (CREATE OR REPLACE). Every statement is
-- idempotent.

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

-- Hands out global positions. An append's positions are taken from it in a
-- short window guarded by a session lock (see the append function); a
-- rolled-back append leaves its positions unused.
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
LANGUAGE sql IMMUTABLE AS $fn$ SELECT {{inflight_position}} $fn$;

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
-- A repeat is looked for only when it is possible: when the stream is not
-- at the expected version (a repeat's events are stored after it), or the
-- append expects any version. The common append pays no lookup by ID.
--
-- Gap safety. An append takes its positions from the sequence and marks
-- the first of them with its in-flight lock (held until its transaction
-- ends) inside a window guarded by the sequence key (a session lock,
-- released as soon as the mark is taken): shared for a single position, so
-- that single-event appends never wait for each other; exclusive for a
-- range, so that nextval and setval hand it out whole. A reader that finds
-- a missing position whose mark is free takes the sequence key exclusively
-- (see the probe function), which waits out every append between taking
-- its positions and marking them; after that, a free mark means the append
-- has ended. So by the time a later position is committed and read, every
-- earlier one is visibly committed, rolled back, or marked in flight.
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
	done          text; -- receives the locks' void results: an assignment
	                    -- is evaluated directly, where PERFORM runs a query
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'bulwark eventsource: appends need READ COMMITTED isolation, not %', current_setting('transaction_isolation');
	END IF;
	done := pg_advisory_xact_lock({{stream_lock}})::text;

	SELECT coalesce(max(e.stream_version), 0) INTO cur FROM {{events}} e WHERE e.stream_id = p_stream;
	IF p_expected < 0 OR cur <> p_expected THEN
		-- A repeat of a stored append: same stream, same events from the
		-- same version, an expected version that agrees.
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
		IF p_expected >= 0 THEN
			status := 2; version := cur; last_position := 0;
			RETURN NEXT;
			RETURN;
		END IF;
	END IF;
	-- An event ID stored before is refused by the unique index on insert.

	BEGIN
		IF n = 1 THEN
			done := pg_advisory_lock_shared({{window_lock}})::text;
			first := nextval('{{sequence}}');
			done := pg_advisory_xact_lock({{inflight_first}})::text;
			done := pg_advisory_unlock_shared({{window_lock}})::text;
		ELSE
			done := pg_advisory_lock({{window_lock}})::text;
			first := nextval('{{sequence}}');
			done := setval('{{sequence}}', first + n - 1)::text;
			done := pg_advisory_xact_lock({{inflight_first}})::text;
			done := pg_advisory_unlock({{window_lock}})::text;
		END IF;
	EXCEPTION WHEN OTHERS THEN
		IF n = 1 THEN
			PERFORM pg_advisory_unlock_shared({{window_lock}});
		ELSE
			PERFORM pg_advisory_unlock({{window_lock}});
		END IF;
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
	status := 0; version := cur + n; last_position := first + n - 1;
	RETURN NEXT;
END
$fn$;

-- Reports which of the given positions are the start of an append still in
-- flight: it tries each one's in-flight lock in shared mode, without
-- waiting (releasing it at once when it gets it), so probes do not disturb
-- each other or the appends. When some are free, it first waits out the
-- appends between taking their positions and marking them (the sequence
-- key, exclusive, until the probe's transaction ends), then tries again:
-- a free mark then means the append has ended.
CREATE OR REPLACE FUNCTION {{probe}}(p_positions bigint[]) RETURNS bigint[]
LANGUAGE plpgsql AS $fn$
DECLARE
	events_oid   integer := '{{events}}'::regclass::oid::integer;
	sequence_oid integer := '{{sequence}}'::regclass::oid::integer;
	held         bigint[];
BEGIN
	FOR attempt IN 1..2 LOOP
		SELECT coalesce(array_agg(p ORDER BY p), '{}') INTO held FROM unnest(p_positions) AS p
		WHERE CASE WHEN pg_try_advisory_lock_shared({{inflight_p}})
			THEN NOT pg_advisory_unlock_shared({{inflight_p}})
			ELSE true END;
		IF attempt = 2 OR cardinality(held) = cardinality(p_positions) THEN
			RETURN held;
		END IF;
		PERFORM pg_advisory_xact_lock({{window_lock}});
	END LOOP;
END
$fn$;
