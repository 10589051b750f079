package sqlitesaga_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/saga"
)

type transfer struct {
	From, To string
	Amount   int
}

// A saga kept in an SQLite file: the debit is undone when the credit
// fails, and the log of both sagas stays in the file for any process that
// opens it after a crash.
func Example() {
	dir, err := os.MkdirTemp("", "sqlitesaga")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "sagas.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, err := sqlitesaga.New(db, sqlitesaga.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	step := func(verb string) saga.StepFunc[transfer] {
		return func(_ context.Context, t *transfer, inv saga.Invocation) error {
			if verb == "credit" && t.To == "closed-account" {
				return errors.New("account closed")
			}
			fmt.Printf("%s %d (%s)\n", verb, t.Amount, inv.Key())
			return nil
		}
	}
	def := saga.Definition[transfer]{
		Name: "transfer",
		Steps: []saga.Step[transfer]{
			{Name: "debit", Action: step("debit"), Compensate: step("refund")},
			{Name: "credit", Kind: saga.Pivot, Action: step("credit")},
		},
	}
	orch, err := saga.New(def, store, saga.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer orch.Close(ctx)

	fmt.Println(orch.Execute(ctx, "t1", transfer{From: "ada", To: "bob", Amount: 40}))
	err = orch.Execute(ctx, "t2", transfer{From: "ada", To: "closed-account", Amount: 25})
	fmt.Println(errors.Is(err, saga.ErrCompensated), err)

	sagas, err := store.List(ctx, saga.ListQuery{Name: "transfer"})
	if err != nil {
		panic(err)
	}
	for _, rec := range sagas {
		fmt.Println(rec.ID, rec.Status)
	}
	// Output:
	// debit 40 (t1/debit)
	// credit 40 (t1/credit)
	// <nil>
	// debit 25 (t2/debit)
	// refund 25 (t2/debit/compensation)
	// true saga t2: compensated: step "credit": account closed
	// t1 completed
	// t2 compensated
}
