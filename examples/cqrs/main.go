// Command cqrs shows the query side of CQRS with bank accounts: commands
// go through an event-sourced account (package eventsource), and two
// projections (package cqrs) build read models from the global log of
// events — the balance of each account, and the list of large transactions
// — in tables of the same SQLite file, each batch committed with its
// checkpoint.
//
// It shows, in order: queries that wait for their own command's events to
// be projected before reading (read-your-writes); an event that one
// projection cannot apply, which parks that projection — and only that one
// — until an operator skips it; a projection rebuilt from the start while
// the other goes on; and the projections' status and lag.
//
//	go run ./examples/cqrs
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/retry"
)

func main() {
	dir, err := os.MkdirTemp("", "bulwark-cqrs-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, filepath.Join(dir, "bank.db")); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// bank is the example's database: events, checkpoints and read models in
// one SQLite file.
type bank struct {
	db          *sql.DB
	events      *sqliteeventsource.Store
	checkpoints *sqlitecqrs.Store
}

func openBank(ctx context.Context, path string) (*bank, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	events, err := sqliteeventsource.New(db, sqliteeventsource.Config{})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	checkpoints, err := sqlitecqrs.New(db, sqlitecqrs.Config{})
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	_, err = db.ExecContext(ctx, readModelSQL)
	if err := errors.Join(err, events.Migrate(ctx), checkpoints.Migrate(ctx)); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &bank{db: db, events: events, checkpoints: checkpoints}, nil
}

func run(ctx context.Context, out io.Writer, path string) (err error) {
	b, err := openBank(ctx, path)
	if err != nil {
		return err
	}
	defer b.db.Close()
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	accounts, err := newAccounts(b.events, reg)
	if err != nil {
		return err
	}
	cfg := cqrs.Config{
		MaxAttempts: 3,
		Backoff:     retry.Exponential{Initial: 20 * time.Millisecond, Jitter: retry.NoJitter},
		MaxDelay:    100 * time.Millisecond,
		Logger:      slog.New(slog.DiscardHandler), // the example prints what matters
	}
	projector, err := cqrs.New(b.events, b.checkpoints, projections(reg), cfg)
	if err != nil {
		return err
	}
	projecting := bulwark.Start(ctx, projector)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, projecting.Stop(stopCtx))
	}()

	// 1. Commands, each followed by a query that waits until the balances
	// read model has applied the command's events, so it reads its own
	// write.
	fmt.Fprintln(out, "commands, and the balance read model right after each:")
	for _, c := range []struct {
		account, what string
		decide        func(Account) ([]any, error)
	}{
		{"ada", "open for Ada Lovelace", open("Ada Lovelace")},
		{"ada", "deposit 2500", deposit(2500)},
		{"grace", "open for Grace Hopper", open("Grace Hopper")},
		{"grace", "deposit 300", deposit(300)},
		{"ada", "withdraw 1200", withdraw(1200)},
		{"grace", "withdraw 500", withdraw(500)},
		{"grace", "deposit 1800", deposit(1800)},
	} {
		acc, err := accounts.Handle(ctx, c.account, c.decide)
		if errors.Is(err, errInsufficient) {
			fmt.Fprintf(out, "  %-5s %-22s refused: %v\n", c.account, c.what, err)
			continue
		}
		if err != nil {
			return err
		}
		if _, err := projector.WaitFor(ctx, "balances", acc.Position); err != nil {
			return err
		}
		owner, amount, err := balance(ctx, b.db, c.account)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-5s %-22s event at position %d; read model: %s has %d\n", c.account, c.what, acc.Position, owner, amount)
	}
	if err := printLarge(ctx, out, b, projector); err != nil {
		return err
	}

	// 2. A deposit of 5,000,000 passes the account's rules, but breaks
	// the audit cap of the large transactions table: that projection fails
	// on it, tries again, and parks there. The balances go on.
	acc, err := accounts.Handle(ctx, "ada", deposit(5_000_000))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nada deposits 5000000 (position %d)\n", acc.Position)
	if _, err := projector.WaitFor(ctx, "balances", acc.Position); err != nil {
		return err
	}
	_, amount, err := balance(ctx, b.db, "ada")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  balances went on: ada has %d\n", amount)
	_, err = projector.WaitFor(ctx, "large_transactions", acc.Position)
	var parked *cqrs.ParkedError
	if !errors.As(err, &parked) {
		return fmt.Errorf("want large_transactions parked, got %v", err)
	}
	fmt.Fprintf(out, "  large_transactions is parked at position %d after %d tries:\n    %s\n", parked.Failed.Position, cfg.MaxAttempts, parked.Failed.Error)
	if err := printStatus(ctx, out, projector); err != nil {
		return err
	}

	// 3. The operator decides the event has no place in that read model
	// and skips it; the projection goes on with the next events.
	if err := projector.Skip(ctx, "large_transactions"); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nthe operator skips the event")
	if _, err := accounts.Handle(ctx, "grace", withdraw(1100)); err != nil {
		return err
	}
	fmt.Fprintln(out, "grace withdraws 1100")
	if err := printLarge(ctx, out, b, projector); err != nil {
		return err
	}

	// 4. Rebuild the balances from the first event, as after a change of
	// its code; the other projection is not disturbed.
	if err := projector.Rebuild(ctx, "balances"); err != nil {
		return err
	}
	head, err := b.events.HeadPosition(ctx)
	if err != nil {
		return err
	}
	if _, err := projector.WaitFor(ctx, "balances", head); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nrebuilt balances from position 0 up to %d:\n", head)
	for _, account := range []string{"ada", "grace"} {
		owner, amount, err := balance(ctx, b.db, account)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s has %d\n", owner, amount)
	}
	return printStatus(ctx, out, projector)
}

// printLarge waits until large_transactions has applied the whole log, then
// prints it.
func printLarge(ctx context.Context, out io.Writer, b *bank, projector *cqrs.Projector[*sql.Tx]) error {
	head, err := b.events.HeadPosition(ctx)
	if err != nil {
		return err
	}
	if _, err := projector.WaitFor(ctx, "large_transactions", head); err != nil {
		return err
	}
	rows, err := largeTransactions(ctx, b.db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "large transactions (%d or more):\n", largeAmount)
	for _, r := range rows {
		fmt.Fprintln(out, "  "+r)
	}
	return nil
}

func printStatus(ctx context.Context, out io.Writer, projector *cqrs.Projector[*sql.Tx]) error {
	all, err := projector.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "status:")
	for _, s := range all {
		state := "running"
		if s.Parked() {
			state = fmt.Sprintf("parked at %d", s.Failed.Position)
		}
		fmt.Fprintf(out, "  %-18s position %2d  lag %d  %s\n", s.Name, s.Position, s.Lag, state)
	}
	return nil
}
