package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// relayChild is the relay process: it publishes the outbox to JetStream
// until SIGTERM (then closes gracefully) or SIGKILL.
func relayChild() {
	if err := runRelay(); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func runRelay() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var store outbox.Store
	cfg := outbox.Config{
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if p, ok := e.(outbox.Published); ok {
				fmt.Printf("  relay: published %s %s\n", p.Message.Topic, p.Message.Key)
			}
		}),
	}
	switch os.Getenv("EXAMPLE_DB") {
	case "sqlite":
		db, err := sqlite.Open(ctx, os.Getenv("EXAMPLE_PATH"))
		if err != nil {
			return err
		}
		defer db.Close()
		s, err := sqliteStore(db)
		if err != nil {
			return err
		}
		store = s
		// SQLite cannot notify: poll often. A killed relay's keys are
		// leased for Lease, so keep it short here.
		cfg.PollInterval = 50 * time.Millisecond
		cfg.PublishTimeout = time.Second
		cfg.Lease = 2 * time.Second
	default:
		pool, err := pgxpool.New(ctx, os.Getenv("EXAMPLE_DSN"))
		if err != nil {
			return err
		}
		defer pool.Close()
		s, err := pgStore(pool, os.Getenv("EXAMPLE_SCHEMA"))
		if err != nil {
			return err
		}
		store = s // LISTEN/NOTIFY wakes the relay; a killed relay's claim ends with its connection
	}
	nc, err := nats.Connect(os.Getenv("EXAMPLE_NATS"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	if err != nil {
		return err
	}
	relay, err := outbox.NewRelay(store, pub, cfg)
	if err != nil {
		return err
	}
	fmt.Println("relay: running")
	// The relay runs until SIGTERM, then lets the publishes under way
	// finish and records them before the process exits.
	g := bulwark.Start(context.Background(), relay)
	select {
	case <-g.Done():
	case <-ctx.Done():
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = g.Stop(cctx)
	fmt.Println("relay: closed")
	return err
}
