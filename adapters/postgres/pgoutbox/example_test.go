package pgoutbox_test

import (
	"context"
	"log"
	"os"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A business change and its message commit in one PostgreSQL transaction;
// a relay, woken by the store's NOTIFY, publishes the message once it
// commits.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgoutbox.New(pool, pgoutbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	pub := outbox.NewMemoryPublisher() // natsoutbox, kafkaoutbox or rabbitoutbox in a service
	relay, err := outbox.NewRelay(store, pub, outbox.Config{Name: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	services := bulwark.Start(ctx, relay)
	defer services.Stop(context.Background())

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, total) VALUES ($1, $2)`, "order-1", 42); err != nil {
			return err
		}
		// Refused here, in the transaction, if the message is not valid
		// (outbox.ErrInvalidMessage): nothing of it is committed.
		return store.Enqueue(ctx, tx, outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`)))
	})
	if err != nil {
		log.Fatal(err)
	}
}
