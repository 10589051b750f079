// Command saga runs an order saga — create the order, reserve inventory,
// charge the payment, ship — with bulwark's saga orchestrator, its log kept
// in SQLite. One order goes through; the next one's card is declined, and
// the steps already done are compensated, last first.
//
//	go run ./examples/saga                 # a temporary SQLite file
//	go run ./examples/saga -crash          # and an orchestrator killed mid-saga
//	go run ./examples/saga -db orders.db   # keep the database
//
// With -crash, a third order runs in a child process that is killed with
// SIGKILL right after the payment went through, before the saga's log
// records it. This process then takes the saga over once the dead one's
// lease has ended: it charges again with the same idempotency key (the
// payment service recognises it and does not charge twice) and ships.
//
// The program checks the services' books at the end and exits with status
// 1 if an order was charged twice, or charged and not shipped, or
// cancelled with its stock still reserved.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/saga"
)

// childEnv tells a process started by -crash to be the orchestrator that
// dies; it holds the database path, childOrderEnv the order's ID.
const (
	childEnv      = "BULWARK_EXAMPLE_SAGA_DB"
	childOrderEnv = "BULWARK_EXAMPLE_SAGA_ORDER"
)

type options struct {
	crash bool
	db    string
}

func main() {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path, os.Getenv(childOrderEnv), os.Stdout))
	}
	var opts options
	flag.BoolVar(&opts.crash, "crash", false, "kill the orchestrator process in the middle of a saga and recover it")
	flag.StringVar(&opts.db, "db", "", "SQLite database file (default: a temporary one)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "saga:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, opts options) error {
	path := opts.db
	if path == "" {
		dir, err := os.MkdirTemp("", "bulwark-saga-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "orders.db")
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := services{db: db}
	if err := svc.migrate(ctx); err != nil {
		return err
	}
	orch, err := orchestrator(svc, out)
	if err != nil {
		return err
	}
	defer orch.Close(ctx)
	fmt.Fprintf(out, "saga log and services in %s\n", path)

	run := time.Now().Format("150405.000")
	orders := []Order{
		{ID: "order-" + run + "-1", SKU: "widget", Qty: 2, Cents: 3000, Card: "4242-4242-4242-4242"},
		{ID: "order-" + run + "-2", SKU: "gadget", Qty: 1, Cents: 9900, Card: declinedCard},
	}
	for _, o := range orders {
		fmt.Fprintf(out, "\n%s: %d %s, %s, card %s\n", o.ID, o.Qty, o.SKU, money(o.Cents), o.Card)
		err := orch.Execute(ctx, o.ID, o)
		if err != nil && !errors.Is(err, saga.ErrCompensated) {
			return err
		}
	}
	if opts.crash {
		o := Order{ID: "order-" + run + "-3", SKU: "widget", Qty: 1, Cents: 1500, Card: "4242-4242-4242-4242"}
		orders = append(orders, o)
		if err := crashAndRecover(ctx, out, orch, path, o); err != nil {
			return err
		}
	}
	return checkBooks(ctx, out, svc, orders)
}

// crashAndRecover runs order o in a child orchestrator that is killed
// mid-saga, then takes the saga over in this process.
func crashAndRecover(ctx context.Context, out io.Writer, orch *saga.Orchestrator[Order], path string, o Order) error {
	fmt.Fprintf(out, "\n%s: %d %s, %s, card %s, in an orchestrator process about to die\n", o.ID, o.Qty, o.SKU, money(o.Cents), o.Card)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.CommandContext(ctx, exe)
	child.Env = append(os.Environ(), childEnv+"="+path, childOrderEnv+"="+o.ID)
	child.Stdout, child.Stderr = out, os.Stderr
	err = child.Run()
	fmt.Fprintf(out, "  the orchestrator process ended: %v\n", err)

	snap, err := orch.Get(ctx, o.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  its log says: %s, next step %s, leased to %s until %s\n",
		snap.Status, snap.Step, snap.Owner, snap.LeaseUntil.Format("15:04:05.000"))
	fmt.Fprintf(out, "  this process takes the saga over once that lease has ended (at most %v)\n", leaseDuration)
	for {
		n, err := orch.Recover(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runChild is the orchestrator process that -crash kills: it starts the
// order's saga and dies once the payment has gone through.
func runChild(path, orderID string, out io.Writer) int {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	orch, err := orchestrator(services{db: db}, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crashAfterCharge = true
	err = orch.Execute(ctx, orderID, Order{ID: orderID, SKU: "widget", Qty: 1, Cents: 1500, Card: "4242-4242-4242-4242"})
	fmt.Fprintln(os.Stderr, "the orchestrator was meant to die, but the saga ended:", err)
	return 1
}

// checkBooks prints what each service recorded per order and fails if a
// saga left an order half done.
func checkBooks(ctx context.Context, out io.Writer, svc services, orders []Order) error {
	fmt.Fprintf(out, "\nthe services' books:\n")
	for _, o := range orders {
		charges, shipments, status, err := svc.ledger(ctx, o.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s: order %s, charged %d time(s), shipped %d time(s)\n", o.ID, status, charges, shipments)
		switch {
		case status == "shipped" && charges == 1 && shipments == 1:
		case status == "cancelled" && charges == 0 && shipments == 0:
		default:
			return fmt.Errorf("%s was left half done", o.ID)
		}
	}
	for _, sku := range []string{"widget", "gadget"} {
		fmt.Fprintf(out, "  stock of %s: %s\n", sku, svc.available(ctx, sku))
	}
	fmt.Fprintln(out, "Every order was either completed or fully compensated, and charged at most once.")
	return nil
}
