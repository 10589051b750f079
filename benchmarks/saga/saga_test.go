// Package saga measures saga orchestration: sagas per second with four
// no-op steps on the memory and PostgreSQL stores, one at a time and 16 at
// once, and the database statements each saga costs. On PostgreSQL,
// impl=rawsql is the least any durable orchestrator must do for the same
// saga: the same five writes (create, then one per step), hand-written with
// pgx and nothing else.
package saga

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

func nop(context.Context, *order, saga.Invocation) error { return nil }

// definition is four no-op steps of every kind.
var definition = saga.Definition[order]{
	Name: "order",
	Steps: []saga.Step[order]{
		{Name: "reserve", Action: nop, Compensate: nop},
		{Name: "charge", Action: nop, Compensate: nop},
		{Name: "confirm", Kind: saga.Pivot, Action: nop},
		{Name: "ship", Kind: saga.Retriable, Action: nop},
	},
}

func orchestrator(b *testing.B, s saga.Store) *saga.Orchestrator[order] {
	o, err := saga.New(definition, s, saga.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := o.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return o
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run executes b.N sagas with conc goroutines and reports sagas/s.
func run(b *testing.B, conc int, execute func(ctx context.Context, id string) error) {
	ctx := context.Background()
	prefix := randomName() + "-"
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := execute(ctx, prefix+strconv.FormatInt(i, 10)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
}

// BenchmarkFourNoOpSteps runs sagas of four no-op steps to completion.
func BenchmarkFourNoOpSteps(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run("impl=bulwark/store=memory/conc="+strconv.Itoa(conc), func(b *testing.B) {
			o := orchestrator(b, saga.NewMemoryStore())
			run(b, conc, func(ctx context.Context, id string) error { return o.Execute(ctx, id, order{ID: id, Amount: 500}) })
		})
	}
	pg := postgres(b)
	for _, conc := range []int{1, 16} {
		b.Run("impl=bulwark/store=postgres/conc="+strconv.Itoa(conc), func(b *testing.B) {
			o := orchestrator(b, pg.store)
			execute := func(ctx context.Context, id string) error { return o.Execute(ctx, id, order{ID: id, Amount: 500}) }
			run(b, conc, execute)
			pg.report(b, execute)
		})
		b.Run("impl=rawsql/store=postgres/conc="+strconv.Itoa(conc), func(b *testing.B) {
			execute := func(ctx context.Context, id string) error { return pg.rawSaga(ctx, id) }
			run(b, conc, execute)
			pg.report(b, execute)
		})
	}
}

// statements counts what pgx sends: with its statement cache warm, one
// statement is one round trip.
type statements struct{ all, reads atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.all.Add(1)
	if strings.HasPrefix(strings.TrimSpace(data.SQL), "SELECT") {
		s.reads.Add(1)
	}
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type pgBench struct {
	pool   *pgxpool.Pool
	store  *pgsaga.Store
	counts *statements
}

// postgres sets up a schema of its own on BULWARK_POSTGRES_DSN, dropped
// when the benchmark ends.
func postgres(b *testing.B) *pgBench {
	ctx := context.Background()
	counts := &statements{}
	pool, _ := benchpg.Pool(b, func(cfg *pgxpool.Config) {
		cfg.MaxConns = 16
		cfg.ConnConfig.Tracer = counts
	})
	s, err := pgsaga.New(pool, pgsaga.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return &pgBench{pool: pool, store: s, counts: counts}
}

// report runs 20 more sagas one by one with the timer stopped and reports
// the statements per saga (target: 5, one per transition) and the reads
// among them (target: 0).
func (p *pgBench) report(b *testing.B, execute func(ctx context.Context, id string) error) {
	b.StopTimer()
	defer b.StartTimer()
	const n = 20
	all, reads := p.counts.all.Load(), p.counts.reads.Load()
	prefix := randomName() + "-"
	for i := range n {
		if err := execute(context.Background(), prefix+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.counts.all.Load()-all)/n, "roundtrips/saga")
	b.ReportMetric(float64(p.counts.reads.Load()-reads)/n, "reads/saga")
}

// rawSaga is the same saga written by hand: insert the log row, then for
// each step run it and record its completion with the data, a fresh lease
// and one UPDATE fenced by the version, as any crash-safe orchestrator must.
func (p *pgBench) rawSaga(ctx context.Context, id string) error {
	o := order{ID: id, Amount: 500}
	data, err := json.Marshal(&o)
	if err != nil {
		return err
	}
	now := time.Now()
	if _, err := p.pool.Exec(ctx, `INSERT INTO sagas (id, name, status, step, data, error, deadline, owner, lease_until, version, created_at, updated_at)
VALUES ($1, 'raw', 'running', 0, $2, '', $3, 'me', $4, 1, $5, $5)`, id, data, time.Time{}, now.Add(30*time.Second), now); err != nil {
		return err
	}
	for step := range 4 {
		if err := nop(ctx, &o, saga.Invocation{}); err != nil {
			return err
		}
		status := "running"
		if step == 3 {
			status = "completed"
		}
		if data, err = json.Marshal(&o); err != nil {
			return err
		}
		now := time.Now()
		if _, err := p.pool.Exec(ctx, `UPDATE sagas SET status = $2, step = $3, data = $4, error = '', owner = 'me', lease_until = $5, updated_at = $6, version = version + 1
WHERE id = $1 AND version = $7`, id, status, step+1, data, now.Add(30*time.Second), now, step+1); err != nil {
			return err
		}
	}
	return nil
}
