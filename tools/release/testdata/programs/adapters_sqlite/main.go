// release-check: run

// Command sqlite commits a message to a SQLite outbox in a transaction and
// relays it to a publisher that prints it.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/outbox"
)

// printer is a publisher that prints each message and signals when it has one.
type printer chan outbox.Message

func (p printer) Publish(_ context.Context, m outbox.Message) error {
	p <- m
	return nil
}

func main() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqliteoutbox.New(db, sqliteoutbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Enqueue(ctx, tx, outbox.NewMessage("orders.placed", "order-1", []byte(`{"id":1}`))); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	published := make(printer, 1)
	relay, err := outbox.NewRelay(store, published, outbox.Config{PollInterval: 10 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	go relay.Run(ctx)
	defer relay.Close(ctx)
	select {
	case m := <-published:
		fmt.Printf("relayed %s %s %s\n", m.Topic, m.Key, m.Payload)
	case <-time.After(30 * time.Second):
		log.Fatal("the relay published nothing in 30s")
	}
}
