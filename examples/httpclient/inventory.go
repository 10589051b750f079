package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/chaos"
)

var errDown = errors.New("inventory: down")

// The flaky phase: the share of answers that are 503s, and of requests that
// stall for a second.
const (
	flakyErrors = 0.2
	flakyStalls = 0.05
)

// inventory is the flaky service: an HTTP server whose answers a chaos
// injector spoils, switched from phase to phase while it runs.
type inventory struct {
	url      string
	server   *http.Server
	chaos    *chaos.Injector
	requests atomic.Int64
}

func startInventory() (*inventory, error) {
	// A fixed seed: the same requests fail on every run.
	inj, err := chaos.New(chaos.Config{Seed: 2026, Disabled: true})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	inv := &inventory{url: "http://" + ln.Addr().String() + "/stock/widget", chaos: inj}
	inv.server = &http.Server{Handler: http.HandlerFunc(inv.serve), ReadHeaderTimeout: time.Second}
	go func() { _ = inv.server.Serve(ln) }()
	return inv, nil
}

// serve answers a stock query, unless chaos says otherwise. Injected latency
// ends when the client gives up on the request.
func (inv *inventory) serve(w http.ResponseWriter, r *http.Request) {
	inv.requests.Add(1)
	err := inv.chaos.Do(r.Context(), func(ctx context.Context) error {
		fmt.Fprintln(w, "widget: 42 in stock")
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errDown):
		http.Error(w, "inventory database unreachable", http.StatusInternalServerError)
	case errors.Is(err, chaos.ErrInjected):
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
}

func (inv *inventory) flaky() {
	must(inv.chaos.SetFaults(chaos.Faults{ErrorRate: flakyErrors, LatencyRate: flakyStalls, Latency: time.Second}))
	inv.chaos.Enable()
}

func (inv *inventory) down() {
	must(inv.chaos.SetFaults(chaos.Faults{ErrorRate: 1, Error: errDown}))
}

func (inv *inventory) recover() { inv.chaos.Disable() }

func (inv *inventory) close() { _ = inv.server.Close() }

func must(err error) {
	if err != nil {
		panic(err)
	}
}
