// Package console measures what bulwark's operations console costs the
// policies it watches: calls through a policyset chain with nothing
// attached (impl=bulwark) beside the same calls with the console attached
// as the set's observer and an event-stream client reading the state every
// 100ms, ten times the default rate (impl=console). Target: < 1% fewer
// calls per second.
//
// On a shared machine those wall-clock figures spread by more than the
// target, so TestWorkload (workload_test.go) is the deterministic measure:
// a fixed workload on a fake clock whose instructions the script
// instructions counts under callgrind, with and without the console.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
)

const settings = `{"policies": {"inventory": {
	"circuit_breaker": {"window_calls": 100},
	"bulkhead":        {"max_concurrent": 1000}
}}}`

func BenchmarkPolicyCalls(b *testing.B) {
	for _, impl := range []string{"bulwark", "console"} {
		b.Run("impl="+impl, func(b *testing.B) {
			doc, err := policyset.Parse([]byte(settings))
			if err != nil {
				b.Fatal(err)
			}
			var ops *console.Console
			var obs bulwark.Observer
			if impl == "console" {
				obs = bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) { ops.Observe(ctx, e) })
			}
			set, err := policyset.New(doc, policyset.Config{Observer: obs})
			if err != nil {
				b.Fatal(err)
			}
			p, err := set.Policy("inventory")
			if err != nil {
				b.Fatal(err)
			}
			if impl == "console" {
				ops, err = console.New(console.Config{Policies: set, ReadOnly: true, Interval: 100 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				watch(b, ops)
			}
			op := func(context.Context) error { return nil }
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Do(ctx, op); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// watch serves ops and keeps an event-stream client reading its state
// until the benchmark ends; it waits for the first event.
func watch(b *testing.B, ops *console.Console) {
	srv := httptest.NewServer(ops)
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		b.Fatal(err)
	}
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		seen := false
		for sc.Scan() {
			if !seen {
				seen = true
				close(first)
			}
		}
	}()
	<-first
	b.Cleanup(func() {
		_ = ops.Close(context.Background())
		resp.Body.Close()
		<-done
		srv.Close()
	})
}

// BenchmarkStateRead is the console's own work for one event of a stream:
// reading the state of a policy set with two chains and an outbox with
// dead letters, and encoding it as JSON. At the default Interval of a
// second, a watching client costs the process this much CPU per second.
func BenchmarkStateRead(b *testing.B) {
	b.Run("impl=console", func(b *testing.B) {
		doc, err := policyset.Parse([]byte(`{"policies": {
			"inventory": {"retry": {}, "circuit_breaker": {}, "bulkhead": {}, "timeout": {"timeout": "1s"}},
			"payments":  {"rate_limit": {"limit": 100}, "bulkhead": {}, "chaos": {"error_rate": 0.1}}
		}}`))
		if err != nil {
			b.Fatal(err)
		}
		set, err := policyset.New(doc, policyset.Config{})
		if err != nil {
			b.Fatal(err)
		}
		store := outbox.NewMemoryStore()
		ctx := context.Background()
		for i := range 20 {
			if err := store.Enqueue(ctx, outbox.NewMessage("orders", fmt.Sprint("order-", i), []byte("{}"))); err != nil {
				b.Fatal(err)
			}
		}
		relay, err := outbox.NewRelay(store, outbox.PublisherFunc(func(context.Context, outbox.Message) error {
			return errors.New("broker down")
		}), outbox.Config{MaxAttempts: 1, BatchSize: 20})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := relay.ProcessBatch(ctx); err != nil {
			b.Fatal(err)
		}
		ops, err := console.New(console.Config{Policies: set, Outboxes: map[string]console.Outbox{"orders": store}, ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/api/state", nil)
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			ops.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}
