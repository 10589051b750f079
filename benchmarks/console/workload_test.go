package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/policyset"
)

// workloadSettings are the policies of examples/console (inventory: retry,
// circuit breaker, bulkhead; payments: rate limit, bulkhead) with changes
// that keep every run identical:
//   - the retry's backoff is 0: the fake clock moves only between simulated
//     seconds, so a wait on it would never end;
//   - inventory's failures come from the workload's dependency on a fixed
//     schedule instead of a chaos injector's random dice;
//   - there is no timeout: on a clock other than the system's, a timeout
//     watches each call's deadline from a goroutine of its own, and where
//     the scheduler runs it moved the count from run to run. On the system
//     clock a timeout is a context.WithDeadline, work of the service's
//     that would only add to the instructions the console is compared
//     with, so leaving it out makes the measured cost higher, not lower.
//
// The payments limit is scaled to the workload's rate so that a tenth of
// its calls are refused, as the example's are.
func workloadSettings(rate int) string {
	return fmt.Sprintf(`{"policies": {
  "inventory": {
    "retry":           {"max_attempts": 2, "backoff": {"type": "constant", "delay": "0s"}},
    "circuit_breaker": {"window_calls": 20, "minimum_calls": 10, "failure_rate_threshold": 50, "open_wait": "5s"},
    "bulkhead":        {"max_concurrent": 10}
  },
  "payments": {
    "rate_limit": {"limit": %d, "period": "1s"},
    "bulkhead":   {"max_concurrent": 5}
  }
}}`, max(rate/2*9/10, 1))
}

// workload is what one run of TestWorkload does, read from the environment
// (see benchmarks/console/instructions):
//
//	CONSOLE_WORKLOAD_SECONDS  simulated seconds (required: the test is
//	                          skipped without it)
//	CONSOLE_WORKLOAD_RATE     calls per simulated second (default 1000)
//	CONSOLE_WORKLOAD_WATCHERS -2: no console, an observer that does
//	                          nothing (what the policies' events cost any
//	                          observer); -1: no console, no observer; 0:
//	                          the console as the
//	                          set's observer and mounted, no stream open;
//	                          n > 0: n event streams open (default -1)
//	CONSOLE_WORKLOAD_SERVICE  "http" (each call is an in-process HTTP call
//	                          to a JSON handler, the default) or "noop"
//	                          (each call does nothing but fail while the
//	                          dependency is down: the policies alone)
type workload struct {
	seconds, rate, watchers int
	service                 string
}

func workloadFromEnv(t *testing.T) (workload, bool) {
	s := os.Getenv("CONSOLE_WORKLOAD_SECONDS")
	if s == "" {
		return workload{}, false
	}
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	w := workload{seconds: num("CONSOLE_WORKLOAD_SECONDS", 0), rate: num("CONSOLE_WORKLOAD_RATE", 1000),
		watchers: num("CONSOLE_WORKLOAD_WATCHERS", -1), service: os.Getenv("CONSOLE_WORKLOAD_SERVICE")}
	if w.service == "" {
		w.service = "http"
	}
	if w.seconds < 1 || w.rate < 2 || w.watchers < -2 || (w.service != "http" && w.service != "noop") {
		t.Fatalf("bad workload %+v", w)
	}
	return w, true
}

// TestWorkload is the deterministic workload benchmarks/console/instructions
// runs under callgrind: a service with the console example's policies
// makes CONSOLE_WORKLOAD_RATE calls per simulated second, alternating
// inventory and payments, for CONSOLE_WORKLOAD_SECONDS seconds of a fake
// clock shared by the policies and the console. Inventory's dependency is
// down for seconds 3 and 4 of every 10, so its breaker opens, waits 5s,
// half-opens and closes again; payments' rate limit refuses a tenth of its
// calls. With the console, each open event stream (a TCP client of the
// console mounted under /ops/ on a loopback server, reading and
// discarding the events as a browser would) reads and sends the state once
// per simulated second, the console's default Interval: after each second
// the clock advances one second and the test waits until every stream has
// read the state and armed its next timer. So every run of the same binary
// does the same work, and its instruction count repeats.
func TestWorkload(t *testing.T) {
	w, ok := workloadFromEnv(t)
	if !ok {
		t.Skip("set CONSOLE_WORKLOAD_SECONDS to run (benchmarks/console/instructions does)")
	}
	fake := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	doc, err := policyset.Parse([]byte(workloadSettings(w.rate)))
	if err != nil {
		t.Fatal(err)
	}
	var ops *console.Console
	var obs bulwark.Observer
	switch {
	case w.watchers >= 0:
		obs = bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) { ops.Observe(ctx, e) })
	case w.watchers == -2:
		obs = bulwark.ObserverFunc(func(context.Context, bulwark.Event) {})
	}
	set, err := policyset.New(doc, policyset.Config{Observer: obs, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	inventory, err := set.Policy("inventory")
	if err != nil {
		t.Fatal(err)
	}
	payments, err := set.Policy("payments")
	if err != nil {
		t.Fatal(err)
	}

	var down atomic.Bool
	call := func(context.Context, string, int) error {
		if down.Load() {
			return errDown
		}
		return nil
	}
	if w.service == "http" {
		call = httpCall(&down)
	}

	base := fake.Timers()
	if w.watchers >= 0 {
		ops, err = console.New(console.Config{Policies: set, ReadOnly: true, Clock: fake})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/ops/", http.StripPrefix("/ops", ops))
		srv := httptest.NewServer(mux)
		var reads atomic.Int64
		t.Cleanup(func() { // runs last, when the streams have ended
			t.Logf("the streams read %d bytes", reads.Load())
			if got := reads.Load(); got == 0 && w.watchers > 0 {
				t.Errorf("the streams read nothing")
			}
		})
		for range w.watchers {
			openStream(t, srv.Listener.Addr().String(), &reads)
		}
		fake.BlockUntil(base + w.watchers) // every stream has sent its first state
		t.Cleanup(func() {
			if err := ops.Close(context.Background()); err != nil {
				t.Error(err)
			}
			srv.Close()
		})
	}

	gc := newPacedGC(os.Getenv("CONSOLE_WORKLOAD_GC") != "none")
	ctx := context.Background()
	var calls, failed int
	for s := range w.seconds {
		down.Store(s%10 == 3 || s%10 == 4)
		for i := range w.rate {
			p, name := inventory, "inventory"
			if i%2 == 1 {
				p, name = payments, "payments"
			}
			err := p.Do(ctx, func(ctx context.Context) error { return call(ctx, name, i) })
			calls++
			if err != nil {
				failed++
			}
			if calls%100 == 0 {
				gc.maybe()
			}
		}
		fake.Advance(time.Second)
		if w.watchers > 0 {
			fake.BlockUntil(base + w.watchers)
		}
	}
	if failed == 0 || failed == calls {
		t.Fatalf("%d of %d calls failed: the schedule should fail some and not all", failed, calls)
	}
	metrics.Read(gc.samples)
	t.Logf("%d calls, %d failed, %d watchers, %d collections", calls, failed, max(w.watchers, 0), gc.cycles)
	// The script reads this line: bytes and objects allocated since the
	// process started.
	fmt.Printf("workload-allocs: %d bytes %d objects\n", gc.samples[0].Value.Uint64(), gc.samples[2].Value.Uint64())
}

// pacedGC collects garbage where GOGC=100 would, but at points of the
// workload rather than of time: with the runtime's own collector off
// (debug.SetGCPercent(-1)), maybe runs runtime.GC once the bytes
// allocated since the last collection reach the heap live after it (at
// least 4 MiB, the runtime's minimum heap goal). The runtime's pacer starts
// a concurrent cycle at a point that depends on how long its last one
// took, and under callgrind that moved the count of a 10s workload by 14%
// from run to run; this way the collections, and the instructions they
// take, depend only on what the workload allocates, so the console's extra
// garbage costs what it would cost and runs repeat.
//
// With CONSOLE_WORKLOAD_GC=none it never collects (the script runs it so
// with GOGC=off): then the count is the work of the calls and the console
// alone, exactly the same from run to run, and their garbage is counted
// in bytes instead.
type pacedGC struct {
	on      bool
	samples []metrics.Sample
	last    uint64 // allocated bytes at the last collection
	goal    uint64 // bytes to allocate before the next
	cycles  int
}

const minHeapGoal = 4 << 20

func newPacedGC(on bool) *pacedGC {
	g := &pacedGC{on: on, samples: []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:objects"}}}
	debug.SetGCPercent(-1)
	if on {
		g.collect()
	}
	return g
}

func (g *pacedGC) maybe() {
	if !g.on {
		return
	}
	metrics.Read(g.samples[:1])
	if g.samples[0].Value.Uint64()-g.last >= g.goal {
		g.collect()
	}
}

func (g *pacedGC) collect() {
	runtime.GC()
	g.cycles++
	metrics.Read(g.samples[:2])
	g.last, g.goal = g.samples[0].Value.Uint64(), max(g.samples[1].Value.Uint64(), minHeapGoal)
}

var errDown = errors.New("dependency down")

// httpCall returns a call that sends a JSON request through net/http's
// handler machinery (an httptest request and recorder: no socket, whose
// cost the kernel would bear and callgrind would not count) to a handler
// that decodes it, looks the item up and encodes the answer; while down is
// set the handler answers 503 and the call fails.
func httpCall(down *atomic.Bool) func(context.Context, string, int) error {
	// The stock is a slice, not a map: a map's lookups cost what its
	// random hash seed makes them cost, which would differ from run to run.
	stock := make([]int, 100)
	for i := range stock {
		stock[i] = i
	}
	type request struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	type answer struct {
		SKU       string `json:"sku"`
		Available int    `json:"available"`
		Reserved  bool   `json:"reserved"`
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		num, _ := strings.CutPrefix(req.SKU, "sku-")
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= len(stock) {
			http.Error(w, "no such item", http.StatusNotFound)
			return
		}
		n := stock[i]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer{SKU: req.SKU, Available: n, Reserved: n >= req.Quantity})
	})
	return func(ctx context.Context, name string, i int) error {
		body := fmt.Sprintf(`{"sku": "sku-%d", "quantity": %d}`, i%100, i%7)
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/"+name+"/reserve", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return errDown
		}
		var a answer
		return json.Unmarshal(rec.Body.Bytes(), &a)
	}
}

// openStream opens /ops/api/events on a raw connection and reads it until
// the server closes it, counting what it reads and nothing else, so the
// watcher's own work is a read per event.
func openStream(t *testing.T, addr string, reads *atomic.Int64) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /ops/api/events HTTP/1.1\r\nHost: ops\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("stream: %q %v", status, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, _ := io.Copy(io.Discard, br)
		reads.Add(n)
	}()
	t.Cleanup(func() { <-done; conn.Close() })
}
