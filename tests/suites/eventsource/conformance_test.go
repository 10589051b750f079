package eventsource_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// pathVar names the database file of TestKilledWriter to its writers.
const pathVar = "BULWARK_TESTS_EVENTSOURCE_PATH"

func TestMain(m *testing.M) {
	eventsourcetest.MainCrashWriter(openWriter) // returns unless this process is a crash writer
	os.Exit(m.Run())
}

// TestConformance holds the store, over an eventsource.MemoryStore, to
// eventsourcetest.Run; in a child process of TestSuiteCatchesFlaws, the
// store with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
		s := &store{inner: eventsource.NewMemoryStore(), flaw: flaw}
		return eventsourcetest.Harness{Store: s, HoldAppend: s.holdAppend}
	})
}

// maxKillDelay bounds how long a writer runs once it has acknowledged the
// batches the crash test waits for.
const maxKillDelay = 20 * time.Millisecond

// TestKilledWriter holds the store, over SQLite's, to
// eventsourcetest.RunCrash.
func TestKilledWriter(t *testing.T) {
	eventsourcetest.RunCrash(t, func(t *testing.T) eventsourcetest.CrashHarness {
		path := filepath.Join(t.TempDir(), "events.db")
		s, err := open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return eventsourcetest.CrashHarness{Store: s, ChildEnv: []string{pathVar + "=" + path}, MaxKillDelay: maxKillDelay}
	})
}

// open opens the store over SQLite's in the database file at path,
// migrated.
func open(ctx context.Context, path string) (*store, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	inner, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		return nil, err
	}
	if err := inner.Migrate(ctx); err != nil {
		return nil, err
	}
	return &store{inner: inner, flaw: flaws.Current()}, nil
}

// openWriter opens the parent's store in a crash writer.
func openWriter(ctx context.Context) (eventsource.Store, error) {
	return open(ctx, os.Getenv(pathVar))
}

// TestSuiteCatchesFlaws: each flaw fails the subtests of Run that guard
// the promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "reorders-log", Fails: []string{"AppendAndRead", "ReadAllPages"}},
		{Name: "accepts-duplicate-ids", Fails: []string{"IdempotentAppend/ExtraEvent", "IdempotentAppend/OtherStream"}},
		{Name: "ignores-expected-version", Fails: []string{"ExpectedVersion/TooLow", "ConflictRounds"}},
		{Name: "loads-whole-stream", Fails: []string{"ReadStreamStreams"}},
		{Name: "head-counts-held-append", Fails: []string{"HeadPosition"}},
	})
}

// TestCrashSuiteCatchesFlaws: a writer killed mid-append shows each flaw.
// Under the race detector a writer's append takes longer than the kill
// delay, so the kill seldom lands between a split batch's two halves: the
// check runs without it, as CI's fault tests do.
func TestCrashSuiteCatchesFlaws(t *testing.T) {
	if flaws.Race {
		t.Skip("a fault test: runs without the race detector")
	}
	flaws.Check(t, "TestKilledWriter", []flaws.Flaw{
		{Name: "splits-batches", Says: []string{"the batch in flight is stored whole or not at all"}},
		{Name: "acks-before-durable", Says: []string{"acknowledged events are missing"}},
	})
}
