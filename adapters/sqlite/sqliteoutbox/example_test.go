package sqliteoutbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/outbox"
)

// A business change and its message commit in one SQLite transaction; the
// relay publishes the message once the transaction commits. A rolled-back
// transaction publishes nothing.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqliteoutbox-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "shop.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := sqliteoutbox.New(db, sqliteoutbox.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)`); err != nil {
		panic(err)
	}

	placeOrder := func(id string, total int, fail bool) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders VALUES (?, ?)`, id, total); err != nil {
			return err
		}
		msg := outbox.NewMessage("orders.created", id, fmt.Appendf(nil, `{"total":%d}`, total))
		if err := store.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		if fail {
			return errors.New("payment declined") // rolls back the order and its message
		}
		return tx.Commit()
	}
	fmt.Println(placeOrder("order-1", 42, false))
	fmt.Println(placeOrder("order-2", 7, true))

	pub := outbox.NewMemoryPublisher() // natsoutbox, kafkaoutbox or rabbitoutbox in a service
	relay, err := outbox.NewRelay(store, pub, outbox.Config{PollInterval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, relay)
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pub.WaitFor(wait, 1); err != nil {
		panic(err)
	}
	if err := services.Stop(ctx); err != nil {
		panic(err)
	}
	for _, m := range pub.Messages() {
		fmt.Println(m.Topic, m.Key, string(m.Payload))
	}
	st, err := store.Stats(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("pending:", st.Pending)
	// Output:
	// <nil>
	// payment declined
	// orders.created order-1 {"total":42}
	// pending: 0
}
