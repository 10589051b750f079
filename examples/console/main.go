// Command console starts a small system with chaos and leaves bulwark's
// operations console open on it, printing its address and the operator's
// token:
//
//	go run ./examples/console                 # on 127.0.0.1:7070
//	go run ./examples/console -addr :0 -token my-own-long-token
//
// Everything runs in memory, from embedded settings (settings.json):
//
//   - two policies of a policyset: "inventory" (retry, circuit breaker,
//     bulkhead, timeout and a chaos injector failing half the calls, so
//     its breaker opens and half-opens again and again; turn the chaos off
//     with Edit settings and watch it close) and "payments" (a rate limit
//     the traffic exceeds, a bulkhead, a timeout), each called about 40
//     times a second;
//   - an outbox whose broker rejects a quarter of the publications, so
//     dead letters appear: replay or discard them;
//   - a refund saga whose payment provider was down when it compensated,
//     so it needs attention: resume or abandon it;
//   - a projection of order totals parked at a malformed event: skip it,
//     resume it or rebuild the read model.
//
// The program runs until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	var opts options
	flag.StringVar(&opts.addr, "addr", "127.0.0.1:7070", "address the console listens on")
	flag.StringVar(&opts.token, "token", "", "the operator's bearer token (default: a random one, printed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, "console example:", err)
		os.Exit(1)
	}
}
