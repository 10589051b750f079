// Package eventsourcetest is the conformance suite of eventsource.Store
// drivers: every driver runs Run and so behaves as the Store documentation
// says — optimistic concurrency, idempotent appends, streaming reads, a
// gap-safe global log, subscriptions and snapshots. SQL drivers also run
// RunCrash, which kills a writer process with SIGKILL mid-append.
//
// The suites run from any module:
//
//	func TestConformance(t *testing.T) {
//		eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
//			s := newStore(t)
//			return eventsourcetest.Harness{Store: s, HoldAppend: holdAppendInATransaction(s)}
//		})
//	}
//
//	func TestKilledWriter(t *testing.T) {
//		eventsourcetest.RunCrash(t, func(t *testing.T) eventsourcetest.CrashHarness {
//			return eventsourcetest.CrashHarness{Store: newStore(t), ChildEnv: []string{"MY_DSN=" + dsn}}
//		})
//	}
//
// RunCrash's writers are the driver's own test binary, run again; its
// TestMain adds one line: eventsourcetest.MainCrashWriter(openStore).
package eventsourcetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// Store is what the suite tests: an event store that also keeps snapshots,
// announces commits and tells the head of its log.
type Store interface {
	eventsource.Store
	eventsource.Listener
	eventsource.SnapshotStore
	eventsource.HeadReader
}

// Harness is one empty store under test.
type Harness struct {
	// Store is the store, empty.
	Store Store
	// HoldAppend appends as Store.Append does, but leaves the append
	// uncommitted (in an open transaction) until finish is called:
	// finish(true) commits it, finish(false) rolls it back. The suite uses
	// it to show that readers of the global log never pass an append that
	// commits late.
	HoldAppend func(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (finish func(commit bool) error, err error)
}

// Run runs the conformance suite. newHarness is called once per test and
// must return an empty store of its own.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ExpectedVersion", testExpectedVersion},
		{"IdempotentAppend", testIdempotentAppend},
		{"IdempotentAppendRacing", testIdempotentAppendRacing},
		{"UnknownOutcomeRetry", testUnknownOutcomeRetry},
		{"InvalidAppend", testInvalidAppend},
		{"CanceledContext", testCanceledContext},
		{"ReadStreamFrom", testReadStreamFrom},
		{"ReadStreamBreakReleases", testReadStreamBreakReleases},
		{"ReadStreamStreams", testReadStreamStreams},
		{"ReadAllPages", testReadAllPages},
		{"HeadPosition", testHeadPosition},
		{"WritersRaceOnOneStream", testWritersRaceOnOneStream},
		{"ConflictRounds", testConflictRounds},
		{"GapSafeGlobalLog", testGapSafeGlobalLog},
		{"RolledBackAppend", testRolledBackAppend},
		{"WritersAndTailingReaders", testWritersAndTailingReaders},
		{"SubscriptionCatchUpThenLive", testSubscriptionCatchUpThenLive},
		{"SubscriptionFromCheckpoint", testSubscriptionFromCheckpoint},
		{"SubscriptionHandlerError", testSubscriptionHandlerError},
		{"ListenWakes", testListenWakes},
		{"Snapshots", testSnapshots},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.Store, "Harness.Store")
			require.NotNil(t, h.HoldAppend, "Harness.HoldAppend")
			tc.test(t, h)
		})
	}
}

// NewEvent returns EventData with a new ID, schema version 1, the given
// type and data.
func NewEvent(typ, data string) eventsource.EventData {
	return eventsource.EventData{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: []byte(data)}
}

func events(n int, typ string) []eventsource.EventData {
	out := make([]eventsource.EventData, n)
	for i := range out {
		out[i] = NewEvent(typ, fmt.Sprintf(`{"n":%d}`, i))
	}
	return out
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// readStream collects a stream, failing the test on an error.
func readStream(t *testing.T, s eventsource.Store, id string, from int64) []eventsource.Event {
	t.Helper()
	var out []eventsource.Event
	for e, err := range s.ReadStream(testContext(t), id, from) {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

// readAll collects the whole global log in pages of limit.
func readAll(t *testing.T, s eventsource.Store, limit int) []eventsource.Event {
	t.Helper()
	var out []eventsource.Event
	from := int64(1)
	for {
		page, err := s.ReadAll(testContext(t), from, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
		from = page[len(page)-1].GlobalPosition + 1
	}
}

func ids(evs []eventsource.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func dataIDs(evs []eventsource.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// requireOrdered fails unless positions strictly increase and each stream's
// versions count up from its first.
func requireOrdered(t *testing.T, log []eventsource.Event) {
	t.Helper()
	last := map[string]int64{}
	for i, e := range log {
		if i > 0 {
			require.Greater(t, e.GlobalPosition, log[i-1].GlobalPosition, "global positions must increase (event %d)", i)
		}
		if v, ok := last[e.StreamID]; ok {
			require.Equal(t, v+1, e.StreamVersion, "stream %q versions must count up in the global log", e.StreamID)
		}
		last[e.StreamID] = e.StreamVersion
	}
}
