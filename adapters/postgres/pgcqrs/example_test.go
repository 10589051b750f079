package pgcqrs_test

import (
	"context"
	"os"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgcqrs"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A read model in PostgreSQL, updated exactly once per event: the handler
// writes through the transaction that also moves the projection's
// checkpoint (it needs a server: it runs where BULWARK_POSTGRES_DSN names
// one).
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("BULWARK_POSTGRES_DSN"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	events, err := pgeventsource.New(pool, pgeventsource.Config{})
	if err != nil {
		panic(err)
	}
	checkpoints, err := pgcqrs.New(pool, pgcqrs.Config{})
	if err != nil {
		panic(err)
	}
	for _, migrate := range []func(context.Context) error{events.Migrate, checkpoints.Migrate} {
		if err := migrate(ctx); err != nil {
			panic(err)
		}
	}
	counts := cqrs.Projection[pgx.Tx]{
		Name: "event_counts",
		Handle: func(ctx context.Context, tx pgx.Tx, e eventsource.Event) error {
			_, err := tx.Exec(ctx, `INSERT INTO event_counts (type, n) VALUES ($1, 1)
				ON CONFLICT (type) DO UPDATE SET n = event_counts.n + 1`, e.Type)
			return err
		},
		Reset: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM event_counts`)
			return err
		},
	}
	projector, err := cqrs.New(events, checkpoints, []cqrs.Projection[pgx.Tx]{counts}, cqrs.Config{})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, projector) // stopped last thing: Close commits the batch in flight
	defer services.Stop(ctx)
}
