// Command idempotency shows idempotency keys keeping a payment endpoint
// correct while its clients retry: a client whose request times out sends
// it again, several copies of one request race each other, and a key is
// reused with a different payment by mistake. The account is charged once
// per payment all the same.
//
//	go run ./examples/idempotency              # records in a temporary SQLite file
//	go run ./examples/idempotency -store memory
//
// The server puts bulwarkhttp.Idempotency in front of POST /payments, with
// the client's identity (its bearer token) as the scope. The program runs
// the scenarios against it, prints what happened and exits with status 1
// if any account was charged more than once.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

func main() {
	store := flag.String("store", "sqlite", "where the idempotency records live: sqlite or memory")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *store); err != nil {
		fmt.Fprintln(os.Stderr, "idempotency:", err)
		os.Exit(1)
	}
}

// run starts the server, runs the scenarios and checks the ledger.
func run(ctx context.Context, w io.Writer, storeKind string) error {
	out := &lockedWriter{w: w} // the racing clients print concurrently
	dir, err := os.MkdirTemp("", "bulwark-idempotency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(ctx, dir, storeKind)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(out, "payment service on %s, idempotency records in %s\n\n", srv.URL, storeKind)

	c := newClient(srv.URL, "token-alice", out)
	if err := scenarios(ctx, c, srv, out); err != nil {
		return err
	}
	return nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
