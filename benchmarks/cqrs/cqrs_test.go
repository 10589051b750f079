// Package cqrs measures projecting events into a read model with the
// checkpoint in the same transaction, on SQLite and on PostgreSQL, at
// batches of 1 and 100 events per transaction: bulwark's Projector (its
// lease check, checkpoint row lock, subscription and hooks) beside a
// hand-written loop that reads the same pages of the log and does the same
// inserts and checkpoint update (the physical reference).
//
// The PostgreSQL benchmarks need BULWARK_POSTGRES_DSN; each run works in a
// schema of its own.
package cqrs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgcqrs"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

var payload = []byte(`{"account":"7f9c2ba4-e88f-11ea-adc1-0242ac120002","amount":4200,"currency":"EUR","reference":"INV-2291"}`)

// BenchmarkProject projects b.N events, appended beforehand, into a read
// model of one row per event; an operation is one event.
func BenchmarkProject(b *testing.B) {
	for _, impl := range []string{"bulwark", "handwritten"} {
		for _, db := range []string{"sqlite", "postgres"} {
			for _, batch := range []int{1, 100} {
				b.Run(fmt.Sprintf("impl=%s/db=%s/batch=%d", impl, db, batch), func(b *testing.B) {
					if db == "sqlite" {
						projectSQLite(b, impl, batch)
					} else {
						projectPostgres(b, impl, batch)
					}
				})
			}
		}
	}
}

// appendEvents appends n events to ten streams, in appends of up to 500.
func appendEvents(b *testing.B, s eventsource.Store, n int) int64 {
	b.Helper()
	ctx := context.Background()
	var head int64
	for i := 0; i < n; {
		batch := make([]eventsource.EventData, min(500, n-i))
		for j := range batch {
			batch[j] = eventsource.EventData{ID: uuid.New(), Type: "account.deposited", SchemaVersion: 1, Data: payload}
		}
		res, err := s.Append(ctx, fmt.Sprint("account-", i%10), eventsource.Any, batch...)
		if err != nil {
			b.Fatal(err)
		}
		head, i = res.GlobalPosition, i+len(batch)
	}
	return head
}

// measure times project and reports events/s.
func measure(b *testing.B, project func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	err := project()
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// runProjector runs a projector of one projection until it has applied
// the log up to head.
func runProjector[Tx any](events eventsource.Store, checkpoints cqrs.Store[Tx], batch int, head int64, handle func(ctx context.Context, tx Tx, e eventsource.Event) error) error {
	done := make(chan struct{})
	var once sync.Once
	p, err := cqrs.New(events, checkpoints, []cqrs.Projection[Tx]{{Name: "read_model", Handle: handle}}, cqrs.Config{
		BatchSize: batch,
		Logger:    slog.New(slog.DiscardHandler),
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(cqrs.CaughtUp); ok && c.Position == head {
				once.Do(func() { close(done) })
			}
		}),
	})
	if err != nil {
		return err
	}
	ran := make(chan error, 1)
	go func() { ran <- p.Run(context.Background()) }()
	select {
	case <-done:
		return p.Close(context.Background())
	case err := <-ran:
		return err
	}
}

// handwritten is the reference: read a page of the log, insert its rows
// and move the checkpoint in one transaction, until the head.
func handwritten(events eventsource.Store, batch int, head int64, commit func(ctx context.Context, page []eventsource.Event) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for pos := int64(0); pos < head; {
		page, err := events.ReadAll(ctx, pos+1, batch)
		if err != nil {
			return err
		}
		if err := commit(ctx, page); err != nil {
			return err
		}
		pos = page[len(page)-1].GlobalPosition
	}
	return nil
}

const (
	sqliteReadModel = `CREATE TABLE read_model (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE hand_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
INSERT INTO hand_checkpoints VALUES ('read_model', 0);`
	sqliteInsert     = `INSERT INTO read_model (position, stream_id, data) VALUES (?, ?, ?)`
	sqliteCheckpoint = `UPDATE hand_checkpoints SET position = ? WHERE name = 'read_model'`
)

func projectSQLite(b *testing.B, impl string, batch int) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	events, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		b.Fatal(err)
	}
	checkpoints, err := sqlitecqrs.New(db, sqlitecqrs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := events.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := checkpoints.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, sqliteReadModel); err != nil {
		b.Fatal(err)
	}
	head := appendEvents(b, events, b.N)
	if impl == "bulwark" {
		measure(b, func() error {
			return runProjector(events, checkpoints, batch, head, func(ctx context.Context, tx *sql.Tx, e eventsource.Event) error {
				_, err := tx.ExecContext(ctx, sqliteInsert, e.GlobalPosition, e.StreamID, e.Data)
				return err
			})
		})
	} else {
		measure(b, func() error {
			return handwritten(events, batch, head, func(ctx context.Context, page []eventsource.Event) error {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				for _, e := range page {
					if _, err := tx.ExecContext(ctx, sqliteInsert, e.GlobalPosition, e.StreamID, e.Data); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, sqliteCheckpoint, page[len(page)-1].GlobalPosition); err != nil {
					return err
				}
				return tx.Commit()
			})
		})
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM read_model`).Scan(&rows); err != nil || rows != b.N {
		b.Fatalf("read model has %d rows of %d (%v)", rows, b.N, err)
	}
}

const (
	pgReadModel = `CREATE TABLE read_model (position bigint PRIMARY KEY, stream_id text NOT NULL, data bytea NOT NULL);
CREATE TABLE hand_checkpoints (name text PRIMARY KEY, position bigint NOT NULL) WITH (fillfactor = 50);
INSERT INTO hand_checkpoints VALUES ('read_model', 0);`
	pgInsert     = `INSERT INTO read_model (position, stream_id, data) VALUES ($1, $2, $3)`
	pgCheckpoint = `UPDATE hand_checkpoints SET position = $1 WHERE name = 'read_model'`
)

func projectPostgres(b *testing.B, impl string, batch int) {
	ctx := context.Background()
	pool, schema := benchpg.Pool(b, nil)
	events, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema})
	if err != nil {
		b.Fatal(err)
	}
	checkpoints, err := pgcqrs.New(pool, pgcqrs.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := events.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := checkpoints.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgReadModel); err != nil {
		b.Fatal(err)
	}
	head := appendEvents(b, events, b.N)
	if impl == "bulwark" {
		measure(b, func() error {
			return runProjector(events, checkpoints, batch, head, func(ctx context.Context, tx pgx.Tx, e eventsource.Event) error {
				_, err := tx.Exec(ctx, pgInsert, e.GlobalPosition, e.StreamID, e.Data)
				return err
			})
		})
	} else {
		measure(b, func() error {
			return handwritten(events, batch, head, func(ctx context.Context, page []eventsource.Event) error {
				return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					for _, e := range page {
						if _, err := tx.Exec(ctx, pgInsert, e.GlobalPosition, e.StreamID, e.Data); err != nil {
							return err
						}
					}
					_, err := tx.Exec(ctx, pgCheckpoint, page[len(page)-1].GlobalPosition)
					return err
				})
			})
		})
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM read_model`).Scan(&rows); err != nil || rows != b.N {
		b.Fatalf("read model has %d rows of %d (%v)", rows, b.N, err)
	}
}
