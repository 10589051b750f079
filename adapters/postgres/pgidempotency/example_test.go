package pgidempotency_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A Keeper over PostgreSQL, whose expired records a Cleaner deletes in the
// background.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, err := pgidempotency.New(pool, pgidempotency.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	keeper, err := idempotency.New(store, idempotency.Config{})
	if err != nil {
		panic(err)
	}
	cleaner, _ := idempotency.NewCleaner(keeper, idempotency.CleanerConfig{Interval: 10 * time.Minute})
	background := bulwark.Start(ctx, cleaner)
	defer background.Stop(context.Background())

	req := idempotency.Request{Scope: "customer-42", Key: "order-1001", Fingerprint: []byte("amount=500")}
	id, err := idempotency.Do(ctx, keeper, req, func(ctx context.Context) (string, error) {
		return "ch_1", nil // charge the card
	})
	fmt.Println(id, err)
}

// A transactional inbox: the handler's write and the record of the message
// commit together.
func ExampleInbox() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, _ := pgidempotency.New(pool, pgidempotency.Config{})
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	inbox, _ := pgidempotency.NewInbox(store, pgidempotency.InboxConfig{Consumer: "billing"})
	ran, err := inbox.Process(ctx, "msg-1", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE accounts SET balance = balance - 500 WHERE id = 42`)
		return err
	})
	fmt.Println(ran, err)

	// The IDs are kept for InboxConfig.Retention (7 days); a Cleaner
	// deletes them afterwards.
	cleaner, _ := idempotency.NewCleaner(inbox, idempotency.CleanerConfig{})
	background := bulwark.Start(ctx, cleaner)
	defer background.Stop(context.Background())
}
