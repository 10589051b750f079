package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// scenarios runs the three stories and checks the ledger after each.
func scenarios(ctx context.Context, c *client, srv *server, out io.Writer) error {
	// 1. The client times out while the bank is slow, and retries.
	fmt.Fprintln(out, "1. A slow charge: the client times out and retries with the same key")
	srv.slowNextCharge(500 * time.Millisecond)
	r, err := c.pay(ctx, "client", "order-1001", `{"account":"acct-1","amount":500}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  final: %d replayed=%v %s\n", r.status, r.replayed, r.body)
	if err := expectCharges(out, srv, "acct-1", 1); err != nil {
		return err
	}

	// 2. Five copies of one request race (a retrying proxy, a double click).
	fmt.Fprintln(out, "\n2. Five concurrent duplicates of one payment")
	srv.slowNextCharge(300 * time.Millisecond)
	var wg sync.WaitGroup
	replies := make([]reply, 5)
	errs := make([]error, 5)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = c.pay(ctx, fmt.Sprint("copy ", i+1), "order-1002", `{"account":"acct-2","amount":250}`)
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if errs[i] != nil {
			return errs[i]
		}
		fmt.Fprintf(out, "  copy %d final: %d replayed=%v %s\n", i+1, r.status, r.replayed, r.body)
		if r.body != replies[0].body {
			return fmt.Errorf("copy %d got a different response: %s", i+1, r.body)
		}
	}
	if err := expectCharges(out, srv, "acct-2", 1); err != nil {
		return err
	}

	// 3. A bug reuses a key for another payment: rejected, not replayed.
	fmt.Fprintln(out, "\n3. The same key reused for a different payment")
	r, err = c.pay(ctx, "client", "order-1001", `{"account":"acct-1","amount":9999}`)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  final: %d %s\n", r.status, r.body)
	if r.status != 422 {
		return fmt.Errorf("a reused key got %d, want 422", r.status)
	}
	if err := expectCharges(out, srv, "acct-1", 1); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nEvery payment was charged exactly once.")
	return nil
}

func expectCharges(out io.Writer, srv *server, account string, want int) error {
	got := srv.charged(account)
	fmt.Fprintf(out, "  ledger: %s charged %v\n", account, got)
	if len(got) != want {
		return fmt.Errorf("%s was charged %d times, want %d", account, len(got), want)
	}
	return nil
}
