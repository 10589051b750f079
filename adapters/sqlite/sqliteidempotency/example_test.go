package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
)

// A Keeper over SQLite: the charge runs once, however often the client
// retries.
func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, _ := sqliteidempotency.New(db, sqliteidempotency.Config{})
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	keeper, _ := idempotency.New(store, idempotency.Config{})

	charges := 0
	req := idempotency.Request{Scope: "customer-42", Key: "order-1001", Fingerprint: []byte("amount=500")}
	for range 3 { // the client retries
		id, err := idempotency.Do(ctx, keeper, req, func(ctx context.Context) (string, error) {
			charges++
			return fmt.Sprintf("ch_%d", charges), nil
		})
		fmt.Println(id, err)
	}
	// Output:
	// ch_1 <nil>
	// ch_1 <nil>
	// ch_1 <nil>
}

// A transactional inbox: the handler's write and the record of the message
// commit together, so a redelivered message changes nothing.
func ExampleInbox() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER); INSERT INTO accounts VALUES (42, 1000)`); err != nil {
		panic(err)
	}
	store, _ := sqliteidempotency.New(db, sqliteidempotency.Config{})
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	inbox, _ := sqliteidempotency.NewInbox(store, sqliteidempotency.InboxConfig{Consumer: "billing"})

	for _, id := range []string{"msg-1", "msg-1"} { // redelivered
		ran, err := inbox.Process(ctx, id, func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance - 500 WHERE id = 42`)
			return err
		})
		fmt.Println(id, ran, err)
	}
	var balance int
	_ = db.QueryRow(`SELECT balance FROM accounts WHERE id = 42`).Scan(&balance)
	fmt.Println("balance:", balance)
	// Output:
	// msg-1 true <nil>
	// msg-1 false <nil>
	// balance: 500
}
