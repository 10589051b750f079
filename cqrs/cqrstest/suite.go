// Package cqrstest is the conformance suite of cqrs.Store drivers: every
// driver runs Run and so behaves as the Store documentation says (locked,
// transactional updates of checkpoints), and a Projector on it keeps the
// promises of package cqrs: each event applied once to a read model in the
// store's database (at least once without transactions), one projector at
// a time, takeover of a dead projector's lease, parking, skipping and
// resuming a failing event, rebuilds, version switches, WaitFor, and a
// Close that commits or rolls back the batch in flight. SQL drivers also
// run RunCrash, which kills projector processes with SIGKILL mid-batch.
//
// The suites run from any module:
//
//	func TestConformance(t *testing.T) {
//		cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[*sql.Tx] {
//			db := openDB(t)
//			return cqrstest.Harness[*sql.Tx]{Store: newStore(t, db), Transactional: true, Record: …, Clear: …, Recorded: …}
//		})
//	}
//
//	func TestSIGKILLedProjectors(t *testing.T) {
//		cqrstest.RunCrash(t, func(t *testing.T) cqrstest.CrashHarness[*sql.Tx] { … })
//	}
//
// RunCrash's projectors are the driver's own test binary, run again; its
// TestMain adds one line: cqrstest.MainCrashChild(openCrashChild).
package cqrstest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/stretchr/testify/require"
)

// Harness is one empty checkpoint store under test, and a read model kept
// where the store's transactions reach: a table of (projection, position)
// rows, one per event a projection applied.
type Harness[Tx any] struct {
	// Store is the store, empty.
	Store cqrs.Store[Tx]
	// Transactional reports that what Record and Clear do through a
	// transaction commits and rolls back with it (SQL stores). Without
	// it (MemoryStore) the suite expects at-least-once effects.
	Transactional bool
	// Record adds the row (projection, position) to the read model through
	// tx.
	Record func(ctx context.Context, tx Tx, projection string, position int64) error
	// Clear deletes the projection's rows through tx.
	Clear func(ctx context.Context, tx Tx, projection string) error
	// Recorded returns the positions of the projection's rows, committed,
	// in increasing order, repeats included.
	Recorded func(t *testing.T, projection string) []int64
}

// Run runs the conformance suite. newHarness is called once per test and
// must return an empty store of its own and an empty read model.
func Run[Tx any](t *testing.T, newHarness func(t *testing.T) Harness[Tx]) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h Harness[Tx])
	}{
		{"UpdateCreatesACheckpoint", testUpdateCreates[Tx]},
		{"UpdateStoresWhatFnLeft", testUpdateStores[Tx]},
		{"UpdateRollsBackOnError", testUpdateRollsBack[Tx]},
		{"UpdatesOfOneProjectionTakeTurns", testUpdatesTakeTurns[Tx]},
		{"ListOrdersByNameAndVersion", testListOrders[Tx]},
		{"CanceledContext", testCanceledContext[Tx]},
		{"ProjectorAppliesEveryEventOnce", testAppliesOnce[Tx]},
		{"ProjectorRetriesAFailedBatch", testRetriesBatch[Tx]},
		{"ProjectorParksAPoisonEvent", testParks[Tx]},
		{"ProjectorSkipsWhenConfigured", testSkipFailed[Tx]},
		{"ProjectorRebuilds", testRebuild[Tx]},
		{"ProjectorSwitchesVersions", testVersionSwitch[Tx]},
		{"ProjectorLeaseTakeover", testLeaseTakeover[Tx]},
		{"ProjectorFencesAStaleHolder", testStaleHolder[Tx]},
		{"WaitForFromAnotherProjector", testWaitForElsewhere[Tx]},
		{"CloseCommitsTheBatchInFlight", testCloseCommitsTheBatch[Tx]},
		{"CloseRollsBackWhenItGivesUp", testCloseRollsBackWhenItGivesUp[Tx]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.Store, "Harness.Store")
			require.NotNil(t, h.Record, "Harness.Record")
			require.NotNil(t, h.Clear, "Harness.Clear")
			require.NotNil(t, h.Recorded, "Harness.Recorded")
			tc.test(t, h)
		})
	}
}

// epoch is a time with microsecond precision, as every store keeps.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
