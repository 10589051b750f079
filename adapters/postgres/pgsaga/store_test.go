package pgsaga_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"orchestrator": runOrchestrator})
}

// noLeaks checks, after everything the test set up has been cleaned up,
// that no goroutine it started is left.
func noLeaks(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
}

func newStore(t *testing.T, pool *pgxpool.Pool) *pgsaga.Store {
	t.Helper()
	s, err := pgsaga.New(pool, pgsaga.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// pool opens a pool of its own on dsn, closed when the test ends.
func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func TestConformance(t *testing.T) {
	noLeaks(t)
	sagatest.Run(t, func(t *testing.T) sagatest.Harness {
		_, dsn := pgtest.Schema(t)
		return sagatest.Harness{
			Store: newStore(t, pool(t, dsn)),
			// Another process's pool on the same table.
			Reopen: func(t *testing.T) saga.Store { return newStore(t, pool(t, dsn)) },
		}
	})
}

func TestNewValidatesItsArguments(t *testing.T) {
	_, err := pgsaga.New(nil, pgsaga.Config{})
	assert.EqualError(t, err, "pgsaga: New: db must not be nil")
	for _, table := range []string{"sagas; DROP TABLE x", "a.b.c", "1sagas"} {
		_, err := pgsaga.New(&pgxpool.Pool{}, pgsaga.Config{Table: table})
		assert.ErrorContains(t, err, "pgsaga: Config.Table", table)
	}
	assert.Equal(t, pgsaga.Config{Table: "sagas"}, pgsaga.DefaultConfig())
}

func TestZeroConfigIsTheDefaultTable(t *testing.T) {
	ctx := context.Background()
	p := pgtest.Pool(t)
	s, err := pgsaga.New(p, pgsaga.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Create(ctx, saga.Record{ID: "x", Name: "order", Status: saga.Running, Data: []byte(`{}`), Version: 1}))
	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM sagas").Scan(&n))
	assert.Equal(t, 1, n)
}

func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	pool := pgtest.Pool(t)
	s, err := pgsaga.New(pool, pgsaga.Config{})
	require.NoError(t, err)
	pgtest.MigrateConcurrently(t, 4, s.Migrate)
}

func TestSchemaQualifiedTable(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	s, err := pgsaga.New(pool, pgsaga.Config{Table: schema + ".order_sagas"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	rec := saga.Record{ID: "x", Name: "order", Status: saga.Running, Data: []byte(`{}`), Version: 1}
	require.NoError(t, s.Create(context.Background(), rec))
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".order_sagas").Scan(&n))
	assert.Equal(t, 1, n)
}

// statements counts the statements a pool sends, by their first word.
type statements struct {
	mu     sync.Mutex
	counts map[string]int
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	verb := strings.ToUpper(strings.Fields(data.SQL)[0])
	s.counts[verb]++
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) reset() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	s.counts = map[string]int{}
	return c
}

// TestHappyPathWritesOncePerTransitionAndReadsNothing counts the
// statements a four-step saga sends: one INSERT, one UPDATE per step.
func TestHappyPathWritesOncePerTransitionAndReadsNothing(t *testing.T) {
	noLeaks(t)
	_, dsn := pgtest.Schema(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	trace := &statements{counts: map[string]int{}}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := newStore(t, pool)

	nop := func(context.Context, *struct{ N int }, saga.Invocation) error { return nil }
	def := saga.Definition[struct{ N int }]{Name: "order", Steps: []saga.Step[struct{ N int }]{
		{Name: "reserve", Action: nop, Compensate: nop},
		{Name: "charge", Action: nop, Compensate: nop},
		{Name: "confirm", Kind: saga.Pivot, Action: nop},
		{Name: "ship", Kind: saga.Retriable, Action: nop},
	}}
	o, err := saga.New(def, s, saga.Config{})
	require.NoError(t, err)
	defer func() { require.NoError(t, o.Close(context.Background())) }()
	ctx := context.Background()
	require.NoError(t, o.Execute(ctx, "warm-up", struct{ N int }{})) // prepares the statements
	trace.reset()
	require.NoError(t, o.Execute(ctx, "o1", struct{ N int }{N: 1}))
	assert.Equal(t, map[string]int{"INSERT": 1, "UPDATE": 4}, trace.reset())
	t.Logf("a saga of 4 steps: 5 statements, 1 INSERT and 4 UPDATEs, no reads")
}
