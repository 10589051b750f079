// Package sagatest is the conformance suite for saga.Store drivers: the
// behaviour the orchestrator relies on, specified once and run against every
// store. A driver's test calls
//
//	func TestConformance(t *testing.T) {
//		sagatest.Run(t, func(t *testing.T) sagatest.Harness {
//			return sagatest.Harness{Store: newStore(t)}
//		})
//	}
//
// where each call returns a Harness around an empty store of its own. The
// suite imports only bulwark's public packages and testify, so a driver in
// any module runs it.
//
// Its tests are grouped by concern: Records (Create, Get, Update and their
// version fencing), Leases (Claim and Renew), Listing (List), Orchestration
// (an Orchestrator on the store) and Instances (several orchestrators
// sharing the store, one of them dying or losing its lease).
package sagatest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
)

// Harness is what a driver gives the suite for one test.
type Harness struct {
	// Store is an empty store of the test's own. Required.
	Store saga.Store
	// Reopen, when set, returns another handle on the sagas Store keeps, as
	// a second process would open it: its own connections to the same
	// database or file. The suite then gives each orchestrator instance,
	// and some of the concurrent claimers, a handle of its own. Nil lets
	// them all share Store.
	Reopen func(t *testing.T) saga.Store
}

// harnesses makes a Harness per test.
type harnesses func(t *testing.T) Harness

// store returns the store of a new Harness.
func (h harnesses) store(t *testing.T) saga.Store {
	t.Helper()
	hs := h(t)
	if hs.Store == nil {
		t.Fatal("sagatest: Harness.Store is nil")
	}
	return hs.Store
}

// stores returns the store of a new Harness and a function returning
// further handles on it (Store itself when Reopen is nil).
func (h harnesses) stores(t *testing.T) (saga.Store, func() saga.Store) {
	t.Helper()
	hs := h(t)
	if hs.Store == nil {
		t.Fatal("sagatest: Harness.Store is nil")
	}
	if hs.Reopen == nil {
		return hs.Store, func() saga.Store { return hs.Store }
	}
	return hs.Store, func() saga.Store { return hs.Reopen(t) }
}

// Run runs the suite. newHarness is called once per test, and returns a
// Harness around a new, empty store.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	h := harnesses(newHarness)
	t.Run("Records", func(t *testing.T) { runRecords(t, h) })
	t.Run("Leases", func(t *testing.T) { runLeases(t, h) })
	t.Run("Listing", func(t *testing.T) { runListing(t, h) })
	t.Run("Orchestration", func(t *testing.T) { runOrchestration(t, h) })
	t.Run("Instances", func(t *testing.T) { runInstances(t, h) })
}

// epoch is a time with microsecond precision, as every store keeps.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func record(id string) saga.Record {
	return saga.Record{
		ID: id, Name: "order", Status: saga.Running, Step: 0,
		Data: []byte(`{"n":1}`), Owner: "a", LeaseUntil: epoch.Add(time.Minute),
		Version: 1, CreatedAt: epoch, UpdatedAt: epoch,
	}
}

// sameRecord compares records, times by instant.
func sameRecord(t *testing.T, want, got saga.Record) {
	t.Helper()
	for _, p := range []struct {
		name      string
		want, got time.Time
	}{
		{"Deadline", want.Deadline, got.Deadline},
		{"LeaseUntil", want.LeaseUntil, got.LeaseUntil},
		{"CreatedAt", want.CreatedAt, got.CreatedAt},
		{"UpdatedAt", want.UpdatedAt, got.UpdatedAt},
	} {
		assert.True(t, p.want.Equal(p.got), "%s: want %v, got %v", p.name, p.want, p.got)
	}
	want.Deadline, want.LeaseUntil, want.CreatedAt, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	got.Deadline, got.LeaseUntil, got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if len(want.Data) == 0 && len(got.Data) == 0 {
		want.Data, got.Data = nil, nil
	}
	assert.Equal(t, want, got)
}

// orchestrator returns an orchestrator of def on store, closed when the
// test ends.
func orchestrator(t *testing.T, def saga.Definition[Order], store saga.Store, cfg saga.Config) *saga.Orchestrator[Order] {
	t.Helper()
	o, err := saga.New(def, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, o.Close(ctx))
	})
	return o
}
