// Command eventsource shows event sourcing with a bank account: the account
// is the sequence of its events (opened, deposited, withdrawn), stored in an
// event store (SQLite by default, PostgreSQL with -db postgres) and replayed
// to get its state.
//
// It shows, in order: opening an account and enqueueing an outbox message in
// one transaction; reading a deposit stored in an old shape, turned into
// the current one by an upcaster; commands that decide on the current state;
// two writers deciding at once, one of them getting a version conflict and
// deciding again; a snapshot that spares replaying the whole history; and a
// subscription reading the global log.
//
//	go run ./examples/eventsource
//	go run ./examples/eventsource -db postgres -dsn postgres://postgres@127.0.0.1:5432/test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
)

// Options configure one run of the example.
type Options struct {
	DB  string // "sqlite" or "postgres"
	DSN string // PostgreSQL connection string
	Dir string // where the SQLite file goes
}

func main() {
	o := Options{}
	flag.StringVar(&o.DB, "db", "sqlite", "database: sqlite or postgres")
	flag.StringVar(&o.DSN, "dsn", os.Getenv("BULWARK_POSTGRES_DSN"), "PostgreSQL connection string (with -db postgres)")
	flag.Parse()
	dir, err := os.MkdirTemp("", "bulwark-eventsource-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	o.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

const account = "ada"

func run(ctx context.Context, out io.Writer, o Options) error {
	db, err := openDatabase(ctx, o)
	if err != nil {
		return err
	}
	defer db.close()
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	reads := &countingStore{eventStore: db.events}
	accounts, err := newAccounts(reads, reg, db.events, out, "")
	if err != nil {
		return err
	}
	stream := accounts.StreamID(account)
	fmt.Fprintf(out, "database: %s; account %q is stream %q\n\n", o.DB, account, stream)

	// 1. Open the account: its first event and an outbox message announcing
	// it, in one transaction.
	ctx = eventsource.ContextWithMetadata(ctx, eventsource.Metadata{CorrelationID: "signup-7"})
	opened, err := reg.Encode(Opened{Owner: "Ada Lovelace"}, eventsource.MetadataFromContext(ctx))
	if err != nil {
		return err
	}
	msg := outbox.NewMessage("accounts.opened", account, []byte(`{"owner":"Ada Lovelace"}`))
	if err := db.appendWithMessage(ctx, stream, eventsource.NoStream, opened, msg); err != nil {
		return err
	}
	fmt.Fprintln(out, "opened the account and enqueued accounts.opened in one transaction")
	again := outbox.NewMessage("accounts.opened", account, []byte(`{"owner":"someone else"}`))
	conflict := db.appendWithMessage(ctx, stream, eventsource.NoStream, mustEncode(reg, Opened{Owner: "someone else"}), again)
	if !errors.Is(conflict, eventsource.ErrVersionConflict) {
		return fmt.Errorf("opening twice: want a version conflict, got %v", conflict)
	}
	stats, err := db.outbox.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "opening it again: %v\n  the transaction rolled back: %d outbox message pending, not 2\n\n", conflict, stats.Pending)

	// 2. A deposit stored by last year's version of the program, as
	// {"amt": 50} with schema version 1. Reading it goes through the
	// upcaster.
	old := eventsource.EventData{ID: uuid.New(), Type: "account.deposited", SchemaVersion: 1, Data: []byte(`{"amt":50}`)}
	if _, err := db.events.Append(ctx, stream, 1, old); err != nil {
		return err
	}
	acc, err := accounts.Load(ctx, account)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "stored a deposit in the old shape %s (schema version 1)\n", old.Data)
	fmt.Fprintf(out, "loaded: owner %s, balance %d EUR at version %d (the upcaster read amt as amount, in EUR)\n\n", acc.State.Owner, acc.State.Balance, acc.Version)

	// 3. Commands: load, decide on the state, save the decision.
	for _, c := range []struct {
		name   string
		decide func(Account) ([]any, error)
	}{{"deposit 100", deposit(100)}, {"withdraw 30", withdraw(30)}, {"withdraw 500", withdraw(500)}} {
		acc, err := accounts.Handle(ctx, account, c.decide)
		if err != nil {
			fmt.Fprintf(out, "%-13s refused: %v\n", c.name+":", err)
			continue
		}
		fmt.Fprintf(out, "%-13s balance %d at version %d\n", c.name+":", acc.State.Balance, acc.Version)
	}
	fmt.Fprintln(out)

	// 4. Two writers (two requests, two processes) decide at once on the
	// same version. Only one append can win; the other gets a version
	// conflict, and Handle loads the new state and decides again.
	if err := concurrentWriters(ctx, out, reads, reg, db.events); err != nil {
		return err
	}

	// 5. A snapshot is saved every 5 events; loading reads it and only the
	// events after it.
	for range 3 {
		if _, err := accounts.Handle(ctx, account, deposit(10)); err != nil {
			return err
		}
	}
	snap, found, err := db.events.LoadSnapshot(ctx, stream)
	if err != nil || !found {
		return fmt.Errorf("no snapshot was saved (%v)", err)
	}
	reads.n.Store(0)
	acc, err = accounts.Load(ctx, account)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "snapshot at version %d; loading version %d read %d events (the snapshot's own, to check it, and the %d after it), not %d\n",
		snap.StreamVersion, acc.Version, reads.n.Load(), acc.Version-snap.StreamVersion, acc.Version)
	fmt.Fprintf(out, "balance %d EUR\n\n", acc.State.Balance)

	// 6. The global log, as a projection would read it: catch up from its
	// checkpoint (0: the start), then follow live events; this one stops
	// once it has caught up.
	return printLog(ctx, out, db.events, reg)
}

// mustEncode encodes v, of a type the registry knows.
func mustEncode(reg *eventsource.Registry, v any) eventsource.EventData {
	e, err := reg.Encode(v, eventsource.Metadata{})
	if err != nil {
		panic(err)
	}
	return e
}

func newAccounts(store eventsource.Store, reg *eventsource.Registry, snapshots eventsource.SnapshotStore, out io.Writer, writer string) (*eventsource.Repository[Account], error) {
	return eventsource.NewRepository(store, reg, evolve, eventsource.RepositoryConfig[Account]{
		StreamPrefix:   "account-",
		Snapshots:      snapshots,
		SnapshotEvery:  5,
		SnapshotSchema: 1,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(eventsource.Retried); ok {
				fmt.Fprintf(out, "%s: attempt %d: %v\n  %s: loading the new state and deciding again\n", writer, r.Attempt, r.Err, writer)
			}
		}),
	})
}

func concurrentWriters(ctx context.Context, out io.Writer, store eventsource.Store, reg *eventsource.Registry, snapshots eventsource.SnapshotStore) error {
	var decided sync.WaitGroup // both writers decide before either saves
	decided.Add(2)
	writer := func(name string, decide func(Account) ([]any, error)) (Aggregate, error) {
		repo, err := newAccounts(store, reg, snapshots, out, name)
		if err != nil {
			return Aggregate{}, err
		}
		first := true
		return repo.Handle(ctx, account, func(a Account) ([]any, error) {
			events, err := decide(a)
			if first {
				first = false
				decided.Done()
				decided.Wait()
			}
			return events, err
		})
	}
	var wg sync.WaitGroup
	results := make([]Aggregate, 2)
	errs := make([]error, 2)
	for i, w := range []struct {
		name   string
		decide func(Account) ([]any, error)
	}{{"writer A (deposit 20)", deposit(20)}, {"writer B (withdraw 40)", withdraw(40)}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = writer(w.name, w.decide)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	last := results[0]
	if results[1].Version > last.Version {
		last = results[1]
	}
	fmt.Fprintf(out, "both writers saved: balance %d at version %d\n\n", last.State.Balance, last.Version)
	return nil
}

// Aggregate is the account as a repository returns it.
type Aggregate = eventsource.Aggregate[Account]

func printLog(ctx context.Context, out io.Writer, store eventsource.Store, reg *eventsource.Registry) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var checkpoint int64
	sub, err := eventsource.NewSubscription(store, func(_ context.Context, e eventsource.Event) error {
		decoded, err := reg.Decode(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %3d  %s v%-2d %-18s %+v\n", e.GlobalPosition, e.StreamID, e.StreamVersion, e.Type, decoded[0])
		return nil
	}, eventsource.SubscriptionConfig{
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				checkpoint = c.Position
				stop()
			}
		}),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "the global log:")
	err = sub.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintf(out, "caught up at position %d (a projection would store it as its checkpoint)\n", checkpoint)
	return nil
}

// countingStore counts the events read from streams.
type countingStore struct {
	eventStore
	n atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[eventsource.Event, error] {
	return func(yield func(eventsource.Event, error) bool) {
		for e, err := range c.eventStore.ReadStream(ctx, id, from) {
			if err == nil {
				c.n.Add(1)
			}
			if !yield(e, err) {
				return
			}
		}
	}
}
