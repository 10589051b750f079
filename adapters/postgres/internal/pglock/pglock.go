// Package pglock is the one registry of the PostgreSQL advisory locks that
// bulwark's stores take: every key is derived here, or, for the locks taken
// inside SQL functions, written here as the SQL expression the functions
// are built from.
//
// PostgreSQL has two key spaces for advisory locks that never conflict
// with each other: one int8 key, and two int4 keys. Within a space, two
// namespaces whose keys meet only make their holders wait for each other;
// they never let two holders in at once.
//
//	namespace       space   key                                               taken by
//	migrations      int8    Migrate (0x62756c7761726b4d, "bulwarkM")          every store's Migrate, per step's transaction
//	outbox key      int8    FNV-1a 64 of Config.Table, 0x00, message key      pgoutbox Enqueue, per key, until commit
//	event stream    int8    hashtextextended(stream ID, events table oid)     pgeventsource appends, until commit
//	in-flight mark  int4×2  (events table oid, position mod 2^32 - 2^31)      appends (until commit), probe function (tried)
//	position window int4×2  (position sequence oid, 0)                        appends (moments), probe function (until commit)
//
// pgeventsource appends through its append function, or, for one event at
// a known version, through Append's single statement, which takes the same
// locks in the same order.
//
// The outbox key, event stream, in-flight and window keys are taken by the
// processes of every release at once during a rolling upgrade, so their
// values must never change: a process of one release and one of another
// would otherwise hold "the same" lock under two keys, and a key's
// messages or a stream's events could be written out of order. Tests pin
// them.
//
// Retired keys, not to be reused: the previous release's Migrate took
// one int8 key per store — pgoutbox 8639669204098305046 (FNV-1a 64 of
// "pgoutbox.migrate", 0x00), pgsaga 0x62756c7761726b05, pgidempotency
// 0x62756c7761726b06, pgcqrs 0x62756c7761726b0c, pgeventsource
// 0x62756c77. Migrate now takes Migrate for every store, because the
// stores of one schema share one migrations table.
package pglock

import "hash/fnv"

// Migrate is the key every store's Migrate takes (transaction-scoped) for
// each step, so that migrations of any bulwark store in one database run
// one at a time.
const Migrate int64 = 0x62756c7761726b4d

// OutboxKey is the key of the lock pgoutbox's Enqueue takes on a message
// key, in the outbox whose Config.Table (as configured, schema and all) is
// table: FNV-1a 64 of table, a 0x00 byte and key. Distinct keys share a
// lock only by a 64-bit hash collision, which makes them wait for each
// other.
func OutboxKey(table, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// The SQL of pgeventsource's append and probe functions, in whose bodies
// p_stream is the stream's ID, events_oid the events table's oid and
// sequence_oid the position sequence's, both as int4 (Append's single
// statement puts its parameter and the oids in their place).
const (
	// EventStream is the int8 key of a stream's lock: appends to one
	// stream take turns on it.
	EventStream = "hashtextextended(p_stream, events_oid)"
	// PositionWindow is the int4 pair of the window in which appends take
	// their positions and mark them in flight: shared by single-event
	// appends, exclusive for several events and for probes.
	PositionWindow = "sequence_oid, 0"
	// InFlightPosition is the body of the in-flight function of p: the
	// second int4 of position p's in-flight mark, p's low 32 bits, signed.
	InFlightPosition = "(p % 4294967296 - 2147483648)::integer"
)

// InFlight is the int4 pair of the in-flight mark of the position that
// the SQL expression pos gives, where fn is the in-flight function (whose
// body is InFlightPosition).
func InFlight(fn, pos string) string {
	return "events_oid, " + fn + "(" + pos + ")"
}
