package saga_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// TestConformance holds the store to sagatest; in a child process of
// TestSuiteCatchesFlaws, the store with the flaw it names. Every
// orchestrator instance gets a handle of its own on the sagas.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	sagatest.Run(t, func(t *testing.T) sagatest.Harness {
		mem := saga.NewMemoryStore()
		return sagatest.Harness{
			Store:  &store{mem: mem, flaw: flaw},
			Reopen: func(t *testing.T) saga.Store { return &store{mem: mem, flaw: flaw} },
		}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "unfenced-update", Fails: []string{"Records/UpdateIsConditionalOnTheVersion", "Records/ConcurrentUpdatesOfOneVersionOnlyOneWins"}},
		{Name: "drops-data-updates", Fails: []string{"Records/UpdateReplacesAndBumpsVersion", "Orchestration/CompletesWithOneWritePerTransition"}},
		{Name: "claims-live-leases", Fails: []string{"Leases/ClaimTakesUnfinishedSagasWithEndedLeases"}},
		{Name: "claim-ignores-limit", Fails: []string{"Leases/ClaimRespectsTheLimit"}},
		{Name: "renews-any-owner", Fails: []string{"Leases/RenewExtendsOnlyTheOwnersUnfinishedLeases"}},
		{Name: "list-unordered", Fails: []string{"Listing/ListFiltersPagesAndOrders"}},
	})
}
