package idempotency_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// pathVar names the database file of a killed-process test to its child.
const pathVar = "BULWARK_TESTS_IDEMPOTENCY_PATH"

func TestMain(m *testing.M) {
	idempotencytest.MainKilledHolder(openHolder)       // returns unless this process is a killed holder
	idempotencytest.MainKilledInboxConsumer(openInbox) // returns unless this process is a killed consumer
	os.Exit(m.Run())
}

// TestConformance holds the store, over an idempotency.MemoryStore, to
// idempotencytest.Run; in a child process of TestSuiteCatchesFlaws, the
// store with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		return idempotencytest.Harness{Store: newStore(idempotency.NewMemoryStore(), flaw)}
	})
}

// TestInbox holds the inbox to idempotencytest.RunInbox.
func TestInbox(t *testing.T) {
	flaw := flaws.Current()
	idempotencytest.RunInbox(t, func(t *testing.T) idempotencytest.InboxHarness[*sql.Tx] {
		db, _ := openFile(t)
		return inboxHarness(db, flaw)
	})
}

// TestKilledHolder holds the store, over SQLite's, to
// idempotencytest.RunKilledHolder.
func TestKilledHolder(t *testing.T) {
	idempotencytest.RunKilledHolder(t, func(t *testing.T) idempotencytest.KilledHolderHarness {
		db, path := openFile(t)
		s, c, err := holderOn(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		return idempotencytest.KilledHolderHarness{Store: s, Counter: c, ChildEnv: []string{pathVar + "=" + path}}
	})
}

// TestKilledInboxConsumer holds the inbox to
// idempotencytest.RunKilledInboxConsumer.
func TestKilledInboxConsumer(t *testing.T) {
	idempotencytest.RunKilledInboxConsumer(t, func(t *testing.T) idempotencytest.KilledInboxHarness[*sql.Tx] {
		db, path := openFile(t)
		return idempotencytest.KilledInboxHarness[*sql.Tx]{Inbox: inboxHarness(db, flaws.Current()), ChildEnv: []string{pathVar + "=" + path}}
	})
}

// openFile opens a new database file of the test's own, with the inbox's,
// the store's and the counter's tables, and returns it with its path.
func openFile(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(inboxSchema + counterSchema); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// holderOn returns the store (over SQLite's, migrated) and the counter
// in db.
func holderOn(ctx context.Context, db *sql.DB) (idempotency.Store, idempotencytest.Counter, error) {
	s, err := sqliteidempotency.New(db, sqliteidempotency.Config{})
	if err != nil {
		return nil, nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		return nil, nil, err
	}
	return newStore(s, flaws.Current()), counter{db}, nil
}

// openHolder opens the parent's store and counter in the killed holder.
func openHolder(ctx context.Context) (idempotency.Store, idempotencytest.Counter, error) {
	db, err := sqlite.Open(ctx, os.Getenv(pathVar))
	if err != nil {
		return nil, nil, err
	}
	return holderOn(ctx, db)
}

// openInbox opens the parent's inbox harness in the killed consumer.
func openInbox(ctx context.Context) (idempotencytest.InboxHarness[*sql.Tx], error) {
	db, err := sqlite.Open(ctx, os.Getenv(pathVar))
	return inboxHarness(db, flaws.Current()), err
}

const counterSchema = `CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, n INTEGER NOT NULL);`

// counter counts charges in the test's database, so that a child's count.
type counter struct{ db *sql.DB }

func (c counter) Incr(ctx context.Context, key string) error {
	_, err := c.db.ExecContext(ctx, `INSERT INTO runs (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1`, key)
	return err
}

func (c counter) Get(ctx context.Context, key string) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT coalesce((SELECT n FROM runs WHERE key = ?), 0)`, key).Scan(&n)
	return n, err
}

// TestSuiteCatchesFlaws: each flaw of the store fails the subtests of Run
// that guard the promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "serves-expired-to-losers", Fails: []string{"ReclaimRacesHaveOneWinner/ExpiredCompleted", "KeeperReusesAnExpiredKeyConcurrently"}},
		{Name: "takes-live-lease", Fails: []string{"DuplicateWhileInProgress", "CheckpointExtendsTheLease", "ConcurrentClaimsHaveOneWinner"}},
		{Name: "drops-recovery-point", Fails: []string{"ExpiredLeaseIsTakenOver", "CheckpointExtendsTheLease"}},
		{Name: "hides-lease-lost", Fails: []string{"DuplicateWhileInProgress", "CompleteAndReplay", "WrongTokenIsLeaseLost"}},
		{Name: "text-outcome", Fails: []string{"OutcomeBytesSurvive"}},
	})
}

// TestInboxSuiteCatchesFlaws: each flaw of the inbox fails the subtests
// of RunInbox that guard the promise it breaks.
func TestInboxSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestInbox", []flaws.Flaw{
		{Name: "check-then-act", Fails: []string{"ConcurrentDeliveries"}},
		{Name: "commits-failed-writes", Fails: []string{"FailureRollsBackTheRecordWithTheWrites"}},
		{Name: "record-first", Fails: []string{"FailureRollsBackTheRecordWithTheWrites"}},
		{Name: "ignores-consumer", Fails: []string{"ConsumersAreSeparate"}},
		{Name: "short-retention", Fails: []string{"RetentionAndCleanup"}},
	})
}

// TestKilledSuitesCatchFlaws: a holder or consumer killed mid-work shows
// each flaw (the suites skip themselves under the race detector).
func TestKilledSuitesCatchFlaws(t *testing.T) {
	if flaws.Race {
		t.Skip("the killed-process suites skip themselves under the race detector")
	}
	flaws.Check(t, "TestKilledHolder", []flaws.Flaw{
		{Name: "drops-recovery-point", Says: []string{"the recovery point kept the takeover from charging again"}},
		{Name: "takes-live-lease", Says: []string{"while the dead holder's lease lasts"}},
	})
	flaws.Check(t, "TestKilledInboxConsumer", []flaws.Flaw{
		{Name: "record-first", Says: []string{"the killed consumer's record was rolled back with its write"}},
		{Name: "claim-first", Says: []string{"the killed consumer's record was rolled back with its write"}},
	})
}
