// Package eventsource measures the PostgreSQL event store: append
// throughput beside a raw pgx INSERT of the same rows into a table of the
// same shape (the physical reference: what the rows cost without the
// store's concurrency checks and gap-safe global log), and the time to load
// a 10,000-event aggregate by full replay and through a snapshot.
//
// It needs BULWARK_POSTGRES_DSN; each benchmark works in a schema of its own.
package eventsource

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

var payload = []byte(`{"account":"7f9c2ba4-e88f-11ea-adc1-0242ac120002","amount":4200,"currency":"EUR","reference":"INV-2291"}`)

// maxConns16 gives a benchmark's pool room for 8 writers and the raw
// INSERT reference beside them.
func maxConns16(cfg *pgxpool.Config) { cfg.MaxConns = 16 }

func newStore(b testing.TB, pool *pgxpool.Pool, schema string) *pgeventsource.Store {
	b.Helper()
	s, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

func batchOf(n int) []eventsource.EventData {
	out := make([]eventsource.EventData, n)
	for i := range out {
		id, _ := uuid.NewV7()
		out[i] = eventsource.EventData{ID: id, Type: "account.deposited", SchemaVersion: 1, Data: payload,
			Metadata: eventsource.Metadata{CorrelationID: "req-7f9c2ba4", CausationID: "cmd-e88f11ea"}}
	}
	return out
}

// rawTable has the columns and indexes of the store's events table, with
// positions from a sequence.
const rawTable = `CREATE TABLE raw_events (
	position bigserial PRIMARY KEY,
	stream_id text NOT NULL, stream_version bigint NOT NULL, event_id uuid NOT NULL UNIQUE,
	type text NOT NULL, schema_version integer NOT NULL, data bytea NOT NULL,
	correlation_id text NOT NULL DEFAULT '', causation_id text NOT NULL DEFAULT '',
	headers jsonb, recorded_at timestamptz NOT NULL,
	UNIQUE (stream_id, stream_version))`

const rawInsert = `INSERT INTO raw_events (stream_id, stream_version, event_id, type, schema_version, data,
	correlation_id, causation_id, headers, recorded_at)
SELECT $1, $2 + u.o, u.id, u.t, u.s, u.d, u.c, u.k, u.h, $10
FROM unnest($3::uuid[], $4::text[], $5::integer[], $6::bytea[], $7::text[], $8::text[], $9::jsonb[])
	WITH ORDINALITY AS u(id, t, s, d, c, k, h, o)`

// rawAppend inserts the batch as the store would, in one statement.
func rawAppend(ctx context.Context, pool *pgxpool.Pool, stream string, version int64, batch []eventsource.EventData) error {
	n := len(batch)
	ids, types, schemas := make([][16]byte, n), make([]string, n), make([]int32, n)
	data, corr, caus, headers := make([][]byte, n), make([]string, n), make([]string, n), make([][]byte, n)
	for i, e := range batch {
		ids[i], types[i], schemas[i], data[i] = e.ID, e.Type, int32(e.SchemaVersion), e.Data
		corr[i], caus[i] = e.Metadata.CorrelationID, e.Metadata.CausationID
	}
	_, err := pool.Exec(ctx, rawInsert, stream, version, ids, types, schemas, data, corr, caus, headers, time.Now().UTC())
	return err
}

// BenchmarkAppend appends batches of events to one stream per writer; an
// operation is one batch. events/s is the throughput of all writers.
func BenchmarkAppend(b *testing.B) {
	// The implementations run side by side, one configuration at a time,
	// so that both see the machine in the same state.
	for _, batch := range []int{1, 100} {
		for _, writers := range []int{1, 8} {
			for _, impl := range []string{"bulwark", "pgx-insert"} {
				b.Run(fmt.Sprintf("impl=%s/batch=%d/writers=%d", impl, batch, writers), func(b *testing.B) {
					ctx := context.Background()
					pool, schema := benchpg.Pool(b, maxConns16)
					var appendBatch func(w int, version int64, evs []eventsource.EventData) error
					if impl == "bulwark" {
						s := newStore(b, pool, schema)
						appendBatch = func(w int, version int64, evs []eventsource.EventData) error {
							_, err := s.Append(ctx, fmt.Sprint("account-", w), eventsource.ExpectedVersion(version), evs...)
							return err
						}
					} else {
						if _, err := pool.Exec(ctx, rawTable); err != nil {
							b.Fatal(err)
						}
						appendBatch = func(w int, version int64, evs []eventsource.EventData) error {
							return rawAppend(ctx, pool, fmt.Sprint("account-", w), version, evs)
						}
					}
					runWriters(b, writers, batch, appendBatch)
				})
			}
		}
	}
}

// runWriters shares b.N batches among writers, each appending to its own
// stream, and reports the events per second of them all. Making a batch
// (new IDs) is measured in both implementations alike.
func runWriters(b *testing.B, writers, batch int, appendBatch func(w int, version int64, evs []eventsource.EventData) error) {
	b.ReportAllocs()
	var (
		next   atomic.Int64
		failed atomic.Pointer[error]
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			version := int64(0)
			for next.Add(1) <= int64(b.N) {
				if err := appendBatch(w, version, batchOf(batch)); err != nil {
					failed.Store(&err)
					return
				}
				version += int64(batch)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "events/s")
}
