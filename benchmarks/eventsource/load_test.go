package eventsource

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/eventsource"
)

// Deposited is the event of the loaded aggregate.
type Deposited struct {
	Account   string `json:"account"`
	Amount    int    `json:"amount"`
	Currency  string `json:"currency"`
	Reference string `json:"reference"`
}

// Balance is the aggregate's state.
type Balance struct {
	Cents    int
	Deposits int
}

const aggregateEvents = 10_000

// BenchmarkLoad loads an aggregate of 10,000 events from PostgreSQL: by
// replaying them all, and through a snapshot taken at its last event (the
// snapshot is checked against the stream, so one event is still read).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	pool, schema := benchpg.Pool(b, maxConns16)
	store := newStore(b, pool, schema)
	for v := 0; v < aggregateEvents; v += 500 {
		if _, err := store.Append(ctx, "account-1", eventsource.ExpectedVersion(v), batchOf(500)...); err != nil {
			b.Fatal(err)
		}
	}
	reg := eventsource.NewRegistry(nil)
	if err := eventsource.Register[Deposited](reg, "account.deposited", 1); err != nil {
		b.Fatal(err)
	}
	repo := func(snapshots bool) *eventsource.Repository[Balance] {
		cfg := eventsource.RepositoryConfig[Balance]{StreamPrefix: "account-"}
		if snapshots {
			cfg.Snapshots = store
		}
		r, err := eventsource.NewRepository(store, reg, func(s Balance, e any) Balance {
			s.Cents += e.(Deposited).Amount
			s.Deposits++
			return s
		}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	replay, snapshot := repo(false), repo(true)
	full, err := replay.Load(ctx, "1")
	if err != nil || full.Version != aggregateEvents {
		b.Fatalf("loaded version %d: %v", full.Version, err)
	}
	last, _ := lastEvent(ctx, store)
	state, _ := reg.Codec().Marshal(full.State)
	if err := store.SaveSnapshot(ctx, eventsource.Snapshot{StreamID: "account-1", StreamVersion: full.Version, EventID: last, Data: state}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		repo *eventsource.Repository[Balance]
	}{{"impl=bulwark/snapshot=off", replay}, {"impl=bulwark/snapshot=on", snapshot}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, err := tc.repo.Load(ctx, "1")
				if err != nil || a.Version != aggregateEvents || a.State != full.State {
					b.Fatalf("loaded %+v: %v", a, err)
				}
			}
		})
	}
}

func lastEvent(ctx context.Context, store eventsource.Store) (id [16]byte, err error) {
	for e, err := range store.ReadStream(ctx, "account-1", aggregateEvents) {
		if err != nil {
			return id, err
		}
		id = e.ID
	}
	return id, nil
}
