package cqrs_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// The database files of TestSIGKILLedProjectors, named to its children:
// the events and checkpoints, and (for the flawed stores) the read model.
const (
	pathVar          = "BULWARK_TESTS_CQRS_PATH"
	readModelPathVar = "BULWARK_TESTS_CQRS_READ_MODEL_PATH"
)

func TestMain(m *testing.M) {
	cqrstest.MainCrashChild(openCrashChild) // returns unless this process is a crash child
	os.Exit(m.Run())
}

// TestConformance holds the store, over a cqrs.MemoryStore, to
// cqrstest.Run; in a child process of TestSuiteCatchesFlaws, the store
// with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[*tx] {
		rm := &readModel{rows: map[string][]int64{}}
		return cqrstest.Harness[*tx]{
			Store:         &store{mem: cqrs.NewMemoryStore(), rm: rm, flaw: flaw},
			Transactional: true,
			Record:        record,
			Clear:         clearRows,
			Recorded:      rm.recorded,
		}
	})
}

// crashDBs are the databases of the crash test: the events and the
// checkpoints, and the read model (the same database, unless a flaw keeps
// it apart).
type crashDBs struct {
	main, readModel *sql.DB
	apart           bool
}

// openCrashDBs opens the crash test's database files, the read model's
// when readModelPath is not empty, and creates the tables.
func openCrashDBs(ctx context.Context, path, readModelPath string) (crashDBs, error) {
	main, err := sqlite.Open(ctx, path)
	if err != nil {
		return crashDBs{}, err
	}
	dbs := crashDBs{main: main, readModel: main}
	if readModelPath != "" {
		if dbs.readModel, err = sqlite.Open(ctx, readModelPath); err != nil {
			return crashDBs{}, err
		}
		dbs.apart = true
	}
	_, err = dbs.readModel.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS applied (position INTEGER NOT NULL, owner TEXT NOT NULL)`)
	return dbs, err
}

// stores returns the event store and the checkpoint store on dbs,
// migrated.
func (dbs crashDBs) stores(ctx context.Context) (*sqliteeventsource.Store, *sqlStore, error) {
	events, err := sqliteeventsource.New(dbs.main, sqliteeventsource.Config{})
	if err != nil {
		return nil, nil, err
	}
	checkpoints, err := sqlitecqrs.New(dbs.main, sqlitecqrs.Config{})
	if err != nil {
		return nil, nil, err
	}
	if err := events.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	if err := checkpoints.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	s := &sqlStore{inner: checkpoints, flaw: flaws.Current()}
	if dbs.apart {
		s.readModel = dbs.readModel
	}
	return events, s, nil
}

// openCrashChild opens the stores of a projector process of
// TestSIGKILLedProjectors. SQLite cannot announce another process's
// appends, so it polls; its handler takes a while per event, so that
// kills land mid-batch.
func openCrashChild(ctx context.Context) (cqrstest.CrashChild[*sql.Tx], error) {
	dbs, err := openCrashDBs(ctx, os.Getenv(pathVar), os.Getenv(readModelPathVar))
	if err != nil {
		return cqrstest.CrashChild[*sql.Tx]{}, err
	}
	events, checkpoints, err := dbs.stores(ctx)
	return cqrstest.CrashChild[*sql.Tx]{
		Events:       events,
		Checkpoints:  checkpoints,
		PollInterval: 50 * time.Millisecond,
		HandleDelay:  200 * time.Microsecond,
		Apply: func(ctx context.Context, tx *sql.Tx, position int64, owner string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO applied (position, owner) VALUES (?, ?)`, position, owner)
			return err
		},
	}, err
}

// flawedKillDelay bounds how long a new holder runs before it is killed,
// with a flawed store: longer than it takes to apply its first batch, so
// that the kill lands in the pause between that batch's two commits.
const flawedKillDelay = 300 * time.Millisecond

// TestSIGKILLedProjectors holds the SQLite store to cqrstest.RunCrash:
// projector processes killed with SIGKILL (often mid-batch) while writers
// append must apply every event to the read model exactly once, one
// process at a time. The flawed stores keep the read model in a database
// of its own, and their holders are killed a little later.
func TestSIGKILLedProjectors(t *testing.T) {
	cqrstest.RunCrash(t, func(t *testing.T) cqrstest.CrashHarness[*sql.Tx] {
		ctx := context.Background()
		dir := t.TempDir()
		path, readModelPath, killDelay := filepath.Join(dir, "main.db"), "", 150*time.Millisecond
		if flaws.Current() != "" {
			readModelPath, killDelay = filepath.Join(dir, "read-model.db"), flawedKillDelay
		}
		dbs, err := openCrashDBs(ctx, path, readModelPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dbs.main.Close(); dbs.readModel.Close() })
		events, checkpoints, err := dbs.stores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return cqrstest.CrashHarness[*sql.Tx]{
			Events:      events,
			Checkpoints: checkpoints,
			Stored: func(ctx context.Context) ([]int64, error) {
				return queryAll(ctx, dbs.main, `SELECT position FROM `+sqliteeventsource.DefaultConfig().EventsTable, func(p *int64) []any { return []any{p} })
			},
			Applied: func(ctx context.Context) ([]cqrstest.CrashRow, error) {
				return queryAll(ctx, dbs.readModel, `SELECT position, owner FROM applied`, func(r *cqrstest.CrashRow) []any { return []any{&r.Position, &r.Owner} })
			},
			ChildEnv:  []string{pathVar + "=" + path, readModelPathVar + "=" + readModelPath},
			KillDelay: killDelay,
		}
	})
}

// queryAll runs query on db and returns its rows, each scanned into the
// fields that fields returns.
func queryAll[T any](ctx context.Context, db *sql.DB, query string, fields func(*T) []any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(fields(&v)...); err != nil {
			return nil, fmt.Errorf("scanning: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// TestSuiteCatchesFlaws: each flaw fails the subtests of Run that guard
// the promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "checkpoint-without-writes", Fails: []string{"UpdateStoresWhatFnLeft", "ProjectorAppliesEveryEventOnce"}},
		{Name: "commits-failed-writes", Fails: []string{"UpdateRollsBackOnError", "ProjectorRetriesAFailedBatch"}},
		{Name: "unlocked-updates", Fails: []string{"UpdatesOfOneProjectionTakeTurns"}},
		{Name: "stores-failed-new-checkpoint", Fails: []string{"UpdateRollsBackOnError"}},
		{Name: "unsorted-list", Fails: []string{"ListOrdersByNameAndVersion"}},
	})
}

// TestCrashSuiteCatchesFlaws: projectors killed mid-batch show each flaw
// (the crash suite skips itself under the race detector).
func TestCrashSuiteCatchesFlaws(t *testing.T) {
	if flaws.Race {
		t.Skip("cqrstest.RunCrash skips itself under the race detector")
	}
	flaws.Check(t, "TestSIGKILLedProjectors", []flaws.Flaw{
		{Name: "writes-then-checkpoint", Says: []string{"no event applied twice"}},
		{Name: "checkpoint-then-writes", Says: []string{"no event skipped"}},
	})
}
