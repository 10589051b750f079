package sqliteeventsource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
)

// An account kept as events in a SQLite file, loaded back by replay.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqliteeventsource")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	type Deposited struct{ Amount int }
	reg := eventsource.NewRegistry(nil)
	_ = eventsource.Register[Deposited](reg, "account.deposited", 1)
	accounts, err := eventsource.NewRepository(store, reg, func(balance int, e any) int {
		return balance + e.(Deposited).Amount
	}, eventsource.RepositoryConfig[int]{StreamPrefix: "account-"})
	if err != nil {
		panic(err)
	}
	for _, amount := range []int{10, 32} {
		if _, err := accounts.Handle(ctx, "42", func(int) ([]any, error) { return []any{Deposited{amount}}, nil }); err != nil {
			panic(err)
		}
	}
	acc, err := accounts.Load(ctx, "42")
	if err != nil {
		panic(err)
	}
	fmt.Println("balance", acc.State, "at version", acc.Version, "position", acc.Position)
	// Output:
	// balance 42 at version 2 position 2
}
