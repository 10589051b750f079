package sqlitecqrs_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
)

// A read model of balances in the same SQLite file as the checkpoints:
// each batch of events and the checkpoint commit together, so each deposit
// is counted exactly once. The query waits for its own write.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sqlitecqrs")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	events, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		panic(err)
	}
	checkpoints, err := sqlitecqrs.New(db, sqlitecqrs.Config{})
	if err != nil {
		panic(err)
	}
	for _, migrate := range []func(context.Context) error{events.Migrate, checkpoints.Migrate} {
		if err := migrate(ctx); err != nil {
			panic(err)
		}
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)`); err != nil {
		panic(err)
	}

	type Deposited struct{ Amount int }
	reg := eventsource.NewRegistry(nil)
	_ = eventsource.Register[Deposited](reg, "account.deposited", 1)
	balances := cqrs.Projection[*sql.Tx]{
		Name:  "balances",
		Types: []string{"account.deposited"},
		Handle: cqrs.Decoded(reg, func(ctx context.Context, tx *sql.Tx, e eventsource.Event, v any) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO balances (account, balance) VALUES (?, ?)
				ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance`, e.StreamID, v.(Deposited).Amount)
			return err
		}),
	}
	projector, err := cqrs.New(events, checkpoints, []cqrs.Projection[*sql.Tx]{balances}, cqrs.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, projector)
	defer services.Stop(ctx)

	for _, amount := range []int{10, 32} {
		data, _ := reg.Encode(Deposited{Amount: amount}, eventsource.Metadata{})
		res, err := events.Append(ctx, "account-42", eventsource.Any, data)
		if err != nil {
			panic(err)
		}
		if _, err := projector.WaitFor(ctx, "balances", res.GlobalPosition); err != nil {
			panic(err)
		}
		var balance int
		if err := db.QueryRowContext(ctx, `SELECT balance FROM balances WHERE account = 'account-42'`).Scan(&balance); err != nil {
			panic(err)
		}
		fmt.Println("after depositing", amount, "the balance is", balance)
	}
	// Output:
	// after depositing 10 the balance is 10
	// after depositing 32 the balance is 42
}
