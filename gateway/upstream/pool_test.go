package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/retry"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sendUntil sends requests through p until done, failing the test after
// 1000.
func sendUntil(t *testing.T, p *upstream.Pool, done func() bool) {
	t.Helper()
	for range 1000 {
		if done() {
			return
		}
		_, _, _ = get(context.Background(), p)
	}
	t.Fatalf("not done after 1000 requests; endpoints: %+v", p.Endpoints())
}

func TestRoundRobinTakesEndpointsInTurn(t *testing.T) {
	a, b, c := newServer(t), newServer(t), newServer(t)
	p, _, _ := startPool(t, upstream.Config{}, a, b, c)
	for range 30 {
		if status, _, err := get(context.Background(), p); err != nil || status != 200 {
			t.Fatal(status, err)
		}
	}
	for _, s := range []*server{a, b, c} {
		if s.hits.Load() != 10 {
			t.Errorf("%s got %d of 30 requests, want 10", s.addr(), s.hits.Load())
		}
	}
}

func TestNoEndpointBeforeTheFirstSet(t *testing.T) {
	p, err := upstream.New(discovery.NewStatic(), "svc", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = get(context.Background(), p)
	if !errors.Is(err, upstream.ErrNoEndpoint) || !errors.Is(err, bulwark.ErrRejected) {
		t.Fatalf("err = %v, want ErrNoEndpoint matching bulwark.ErrRejected", err)
	}
	if _, ok := bulwark.RetryAfter(err); ok {
		t.Fatal("RetryAfter set on a pool with no endpoint at all")
	}
}

func TestFollowsTheResolverAndKeepsTheSetOnErrors(t *testing.T) {
	a, b := newServer(t), newServer(t)
	p, r, ev := startPool(t, upstream.Config{}, a)
	if err := r.Set("svc", []discovery.Endpoint{{Addr: b.addr(), Meta: map[string]string{"zone": "z1"}}}); err != nil {
		t.Fatal(err)
	}
	e, _ := ev.wait(t, 1, isKind("upstream.endpoints_changed"))
	ch := e.(upstream.EndpointsChanged)
	if len(ch.Added) != 1 || ch.Added[0] != b.addr() || len(ch.Removed) != 1 || ch.Removed[0] != a.addr() || ch.Endpoints != 1 {
		t.Fatalf("EndpointsChanged = %+v", ch)
	}
	if st := state(t, p, b.addr()); st.Meta["zone"] != "z1" || !st.Healthy || st.Ejected {
		t.Fatalf("state = %+v", st)
	}
	for range 4 {
		if _, body, err := get(context.Background(), p); err != nil || body != b.addr() {
			t.Fatal(body, err)
		}
	}
}

func TestResolverErrorKeepsTheLastSet(t *testing.T) {
	a := newServer(t)
	r := &failingResolver{updates: make(chan discovery.Update, 2)}
	r.updates <- discovery.Update{Endpoints: []discovery.Endpoint{{Addr: a.addr()}}}
	r.updates <- discovery.Update{Err: errors.New("registry down")}
	ev := newEvents()
	p, err := upstream.New(r, "svc", upstream.Config{Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	e, _ := ev.wait(t, 0, isKind("upstream.resolve_failed"))
	if e.(upstream.ResolveFailed).Err.Error() != "registry down" {
		t.Fatal(e)
	}
	if _, body, err := get(context.Background(), p); err != nil || body != a.addr() {
		t.Fatalf("after a resolver error: %q, %v; want the last set served", body, err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type failingResolver struct{ updates chan discovery.Update }

func (r *failingResolver) Watch(ctx context.Context, _ string) (<-chan discovery.Update, error) {
	out := make(chan discovery.Update)
	go func() {
		defer close(out)
		for {
			select {
			case u := <-r.updates:
				select {
				case out <- u:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func TestLifecycle(t *testing.T) {
	p, err := upstream.New(discovery.NewStatic(), "svc", upstream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after ctx ends = %v, want context.Canceled", err)
	}
	if err := p.Run(context.Background()); !errors.Is(err, bulwark.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	q, _ := upstream.New(discovery.NewStatic(), "svc", upstream.Config{})
	_ = q.Close(context.Background())
	if err := q.Run(context.Background()); !errors.Is(err, bulwark.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "without New") {
			t.Fatalf("zero Pool: recover() = %v", r)
		}
	}()
	var zero upstream.Pool
	_, _ = zero.RoundTrip(&http.Request{})
}

// TestEjectionGrowsAndEndsWithAProbe drives one failing endpoint through
// ejection, a failed probe (a longer ejection), and a successful probe.
func TestEjectionGrowsAndEndsWithAProbe(t *testing.T) {
	a, b := newServer(t), newServer(t)
	clk := clocktest.New(t0)
	p, _, ev := startPool(t, upstream.Config{Clock: clk, Outlier: upstream.Outlier{
		ConsecutiveFailures: 3, EjectionTime: 10 * time.Second, MaxEjectionTime: 15 * time.Second, MaxEjectedPercent: 100,
	}}, a, b)
	a.mode.Store(serve503)
	for range 6 { // round robin: three to each
		_, _, _ = get(context.Background(), p)
	}
	e, i := ev.wait(t, 0, isKind("upstream.endpoint_ejected"))
	if ej := e.(upstream.EndpointEjected); ej.Addr != a.addr() || ej.Ejections != 1 || !ej.Until.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("first ejection = %+v", ej)
	}
	if st := state(t, p, a.addr()); !st.Ejected || !st.EjectedUntil.Equal(t0.Add(10*time.Second)) || st.Ejections != 1 {
		t.Fatalf("state = %+v", st)
	}
	hits := a.hits.Load()
	for range 10 {
		if _, body, _ := get(context.Background(), p); body != b.addr() {
			t.Fatalf("ejected endpoint served: %q", body)
		}
	}
	if a.hits.Load() != hits {
		t.Fatal("a request went to the ejected endpoint")
	}

	clk.Advance(10 * time.Second) // the probe fails: ejected again, twice as long but capped
	sendUntil(t, p, func() bool { return a.hits.Load() != hits })
	e, i = ev.wait(t, i+1, isKind("upstream.endpoint_ejected"))
	if ej := e.(upstream.EndpointEjected); ej.Ejections != 2 || !ej.Until.Equal(t0.Add(25*time.Second)) {
		t.Fatalf("second ejection = %+v, want 15s (20s capped)", ej)
	}

	a.mode.Store(serveOK)
	clk.Advance(15 * time.Second) // the probe succeeds: restored
	sendUntil(t, p, func() bool { return a.hits.Load() != hits+1 })
	e, _ = ev.wait(t, i+1, isKind("upstream.endpoint_restored"))
	if e.(upstream.EndpointRestored).Addr != a.addr() {
		t.Fatal(e)
	}
	if st := state(t, p, a.addr()); st.Ejected || !st.EjectedUntil.IsZero() {
		t.Fatalf("restored state = %+v", st)
	}
}

func TestMaxEjectedPercentCapsTheEjectedShare(t *testing.T) {
	servers := []*server{newServer(t), newServer(t), newServer(t), newServer(t), newServer(t)}
	p, _, _ := startPool(t, upstream.Config{Clock: clocktest.New(t0), Outlier: upstream.Outlier{ConsecutiveFailures: 1}}, servers...)
	for _, s := range servers {
		s.mode.Store(serve503)
	}
	for range 50 {
		_, _, _ = get(context.Background(), p)
	}
	ejected := 0
	for _, st := range p.Endpoints() {
		if st.Ejected {
			ejected++
		}
	}
	if ejected != 2 { // 50% of 5, rounded down
		t.Fatalf("%d of 5 endpoints ejected, want 2 (MaxEjectedPercent 50)", ejected)
	}
}

func TestEveryEndpointEjectedIsErrNoEndpoint(t *testing.T) {
	a := newServer(t)
	clk := clocktest.New(t0)
	p, _, _ := startPool(t, upstream.Config{Clock: clk, Outlier: upstream.Outlier{ConsecutiveFailures: 1}}, a)
	a.mode.Store(serve503)
	if status, _, _ := get(context.Background(), p); status != http.StatusServiceUnavailable {
		t.Fatal(status)
	}
	clk.Advance(10 * time.Second)
	_, _, err := get(context.Background(), p)
	if !errors.Is(err, upstream.ErrNoEndpoint) {
		t.Fatalf("err = %v, want ErrNoEndpoint: the only endpoint is ejected (a pool of one may lose its last)", err)
	}
	if d, ok := bulwark.RetryAfter(err); !ok || d != 20*time.Second {
		t.Fatalf("RetryAfter = %v, %v; want the 20s left of the 30s ejection", d, ok)
	}
	if pr := bulwarkhttp.ProblemFor(err); pr.Status != http.StatusServiceUnavailable || pr.RetryAfter != 20*time.Second {
		t.Fatalf("ProblemFor = %d with Retry-After %v, want 503 with 20s", pr.Status, pr.RetryAfter)
	}
}

func TestNewCallMovesRetriesToOtherEndpoints(t *testing.T) {
	bad1, bad2, good := newServer(t), newServer(t), newServer(t)
	bad1.mode.Store(serve503)
	bad2.mode.Store(serve503)
	// Random choices, so that without NewCall two attempts of a call would
	// often meet the same bad endpoint.
	p, _, _ := startPool(t, upstream.Config{Balancer: upstream.LeastOutstanding, Outlier: upstream.Outlier{ConsecutiveFailures: 1000}}, bad1, bad2, good)
	rt := retryTransport(t, p, 3)
	for range 20 {
		status, body, err := get(upstream.NewCall(context.Background()), rt)
		if err != nil || status != 200 || body != good.addr() {
			t.Fatalf("status %d body %q err %v: three attempts of one call must reach the one good endpoint", status, body, err)
		}
	}
	if got := bad1.hits.Load() + bad2.hits.Load(); got > 40 {
		t.Fatalf("bad endpoints got %d attempts for 20 calls; a call must not try one twice", got)
	}
}

func TestRetriesGoBackToUsedEndpointsWhenNoOtherIsLeft(t *testing.T) {
	a := newServer(t)
	a.mode.Store(serve503)
	p, _, _ := startPool(t, upstream.Config{Outlier: upstream.Outlier{ConsecutiveFailures: 1000}}, a)
	status, _, err := get(upstream.NewCall(context.Background()), retryTransport(t, p, 3))
	if err != nil || status != 503 || a.hits.Load() != 3 {
		t.Fatalf("status %d err %v hits %d: want all three attempts on the only endpoint", status, err, a.hits.Load())
	}
}

func retryTransport(t *testing.T, base http.RoundTripper, attempts int) *bulwarkhttp.Transport {
	t.Helper()
	r, err := retry.New(retry.Config{MaxAttempts: attempts, Backoff: retry.Constant{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bulwarkhttp.NewTransport(r, bulwarkhttp.TransportConfig{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestLeastOutstandingPrefersTheLessLoaded(t *testing.T) {
	slow, fast := newServer(t), newServer(t)
	slow.mode.Store(serveStall)
	p, _, _ := startPool(t, upstream.Config{Balancer: upstream.LeastOutstanding}, slow, fast)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := make(chan struct{})
	go func() { // one request stays on the slow endpoint until cancel
		defer close(stuck)
		for slow.hits.Load() == 0 && ctx.Err() == nil {
			_, _, _ = get(ctx, p)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); state(t, p, slow.addr()).Outstanding == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no request reached the slow endpoint in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	for range 50 {
		if _, body, err := get(context.Background(), p); err != nil || body != fast.addr() {
			t.Fatalf("%q %v: with one request outstanding on the slow endpoint and none on the fast, p2c must pick the fast", body, err)
		}
	}
	cancel()
	<-stuck
}

func TestHealthChecksTakeOutAndRestoreAnEndpoint(t *testing.T) {
	a, b := newServer(t), newServer(t)
	clk := clocktest.New(t0)
	interval := 5 * time.Second
	p, _, ev := startPool(t, upstream.Config{Clock: clk, HealthCheck: upstream.HealthCheck{
		Path: "/healthz", Interval: interval, HealthyAfter: 2, UnhealthyAfter: 2,
	}}, a, b)
	round := func() { clk.BlockUntil(1); clk.Advance(interval) }
	a.unhealthy.Store(true)
	round()
	round() // two failures: unhealthy
	e, i := ev.wait(t, 0, isKind("upstream.health_changed"))
	if hc := e.(upstream.HealthChanged); hc.Addr != a.addr() || hc.Healthy || hc.Err == nil {
		t.Fatalf("%+v", hc)
	}
	if state(t, p, a.addr()).Healthy {
		t.Fatal("Endpoints says healthy")
	}
	for range 10 {
		if _, body, _ := get(context.Background(), p); body != b.addr() {
			t.Fatalf("unhealthy endpoint served %q", body)
		}
	}
	a.unhealthy.Store(false)
	round()
	round() // two passes: healthy again
	e, _ = ev.wait(t, i+1, isKind("upstream.health_changed"))
	if hc := e.(upstream.HealthChanged); hc.Addr != a.addr() || !hc.Healthy {
		t.Fatalf("%+v", hc)
	}
	before := a.hits.Load()
	for range 10 {
		_, _, _ = get(context.Background(), p)
	}
	if a.hits.Load()-before != 5 {
		t.Fatalf("restored endpoint got %d of 10 requests, want 5", a.hits.Load()-before)
	}
}

func TestNoHealthyEndpointPanicsToEveryEndpoint(t *testing.T) {
	a, b := newServer(t), newServer(t)
	clk := clocktest.New(t0)
	p, _, ev := startPool(t, upstream.Config{Clock: clk, HealthCheck: upstream.HealthCheck{Path: "/healthz", Interval: time.Second, UnhealthyAfter: 1}}, a, b)
	a.unhealthy.Store(true)
	b.unhealthy.Store(true)
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	_, i := ev.wait(t, 0, isKind("upstream.health_changed"))
	ev.wait(t, i+1, isKind("upstream.health_changed"))
	for range 4 {
		if status, _, err := get(context.Background(), p); err != nil || status != 200 {
			t.Fatalf("%d %v: with no endpoint healthy the pool must still send to them", status, err)
		}
	}
	if a.hits.Load() != 2 || b.hits.Load() != 2 {
		t.Fatalf("hits %d/%d, want 2/2", a.hits.Load(), b.hits.Load())
	}
}

func TestHealthyCheckRestoresAnEjectedEndpoint(t *testing.T) {
	a, b := newServer(t), newServer(t)
	clk := clocktest.New(t0)
	p, _, ev := startPool(t, upstream.Config{Clock: clk,
		HealthCheck: upstream.HealthCheck{Path: "/healthz", Interval: time.Second, HealthyAfter: 1, UnhealthyAfter: 1},
		Outlier:     upstream.Outlier{ConsecutiveFailures: 1, EjectionTime: time.Hour}}, a, b)
	a.mode.Store(serve503)
	sendUntil(t, p, func() bool { return state(t, p, a.addr()).Ejected })
	a.unhealthy.Store(true)  // only now: an unhealthy endpoint would get no request to be ejected by
	clk.BlockUntil(1)        // the first round, run at start, is over
	clk.Advance(time.Second) // unhealthy
	_, i := ev.wait(t, 0, isKind("upstream.health_changed"))
	a.mode.Store(serveOK)
	a.unhealthy.Store(false)
	clk.BlockUntil(1)
	clk.Advance(time.Second) // healthy: un-ejected long before its hour
	ev.wait(t, i+1, isKind("upstream.endpoint_restored"))
	if st := state(t, p, a.addr()); st.Ejected || !st.Healthy {
		t.Fatalf("%+v", st)
	}
}
