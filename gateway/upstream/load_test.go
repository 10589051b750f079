package upstream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/retry"
)

// proxyTo serves a reverse proxy to p, as a gateway route does: each request
// is one call (NewCall) through a breaker around a retry of up to three
// attempts, each attempt on another endpoint. The breaker is outside the
// retry, so it counts calls, not attempts: a dead endpoint's refused
// connections do not open it while retries still reach a live one.
func proxyTo(t *testing.T, p *upstream.Pool, attemptTimeout time.Duration) *httptest.Server {
	t.Helper()
	br, err := circuitbreaker.New(circuitbreaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}, AttemptTimeout: attemptTimeout})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bulwarkhttp.NewTransport(bulwark.Chain(br, r), bulwarkhttp.TransportConfig{Base: p})
	if err != nil {
		t.Fatal(err)
	}
	target := &url.URL{Scheme: "http", Host: "svc"}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r.WithContext(upstream.NewCall(r.Context())))
	}))
	t.Cleanup(front.Close)
	return front
}

type result struct {
	at     time.Time
	status int
	body   string
}

// load sends GETs to url from n clients until stop is closed and returns
// every answer.
func load(t *testing.T, u string, n int, stop <-chan struct{}) []result {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		all []result
		wg  sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(u)
				if err != nil {
					t.Errorf("client: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				all = append(all, result{time.Now(), resp.StatusCode, string(body)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return all
}

// ejections records when each endpoint was ejected, on the real clock.
type ejections struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (e *ejections) Observe(_ context.Context, ev bulwark.Event) {
	if ej, ok := ev.(upstream.EndpointEjected); ok {
		e.mu.Lock()
		if _, seen := e.at[ej.Addr]; !seen {
			e.at[ej.Addr] = time.Now()
		}
		e.mu.Unlock()
	}
}

func (e *ejections) of(addr string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.at[addr]
	return at, ok
}

// TestLosingTwoOfThreeUnderLoad kills two of three endpoints while eight
// clients load the proxy. The bound: a 5xx may reach a client only from
// the moment the endpoints die until the last of them is ejected (5
// consecutive failures each), plus the time an answer takes to travel back
// (100ms of slack); after that, every answer is a 200 from the survivor.
// With MaxEjectedPercent 100 both dead endpoints are ejected; with the
// default 50 only one is (one of three, rounded down), and the other stays
// in rotation, where every call that meets it moves its next attempt on.
func TestLosingTwoOfThreeUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		percent float64
		ejected int
	}{{100, 2}, {0, 1}} {
		t.Run(fmt.Sprintf("MaxEjectedPercent=%v", tc.percent), func(t *testing.T) {
			loseTwoOfThree(t, tc.percent, tc.ejected)
		})
	}
}

func loseTwoOfThree(t *testing.T, percent float64, wantEjected int) {
	a, b, c := newServer(t), newServer(t), newServer(t)
	ej := &ejections{at: map[string]time.Time{}}
	p, _, _ := startPool(t, upstream.Config{Observer: ej, Outlier: upstream.Outlier{MaxEjectedPercent: percent}}, a, b, c)
	front := proxyTo(t, p, 0)

	stop := make(chan struct{})
	var killed time.Time
	go func() {
		time.Sleep(300 * time.Millisecond)
		killed = time.Now()
		a.Close()
		b.Close()
		time.Sleep(1200 * time.Millisecond)
		close(stop)
	}()
	results := load(t, front.URL, 8, stop)

	var last time.Time
	ejected := 0
	for _, s := range []*server{a, b} {
		if at, ok := ej.of(s.addr()); ok {
			ejected++
			if at.After(last) {
				last = at
			}
		}
	}
	if ejected != wantEjected {
		t.Fatalf("%d dead endpoints ejected, want %d", ejected, wantEjected)
	}
	if _, ok := ej.of(c.addr()); ok {
		t.Fatal("the survivor was ejected")
	}
	window := last.Add(100 * time.Millisecond)
	var before, during, after, fivexx, lateFivexx int
	for _, r := range results {
		switch {
		case r.at.Before(killed):
			before++
		case r.at.Before(window):
			during++
		default:
			after++
			if r.status != 200 || r.body != c.addr() {
				t.Errorf("after the ejection window: %d %q, want 200 from the survivor %s", r.status, r.body, c.addr())
			}
		}
		if r.status >= 500 {
			fivexx++
			if r.at.Before(killed) || !r.at.Before(window) {
				lateFivexx++
			}
		}
	}
	t.Logf("%d answers before the kill, %d in the window (%v from the kill to the last ejection), %d after; %d 5xx, %d outside the window",
		before, during, last.Sub(killed), after, fivexx, lateFivexx)
	if lateFivexx > 0 {
		t.Fatalf("%d 5xx outside [kill, last ejection + 100ms]", lateFivexx)
	}
	if after < 100 {
		t.Fatalf("only %d answers after the window: the survivor must keep serving", after)
	}
}

// TestStalledEndpointIsEjected: attempts that time out on a stalled
// endpoint move to another one, and count toward its ejection.
func TestStalledEndpointIsEjected(t *testing.T) {
	stalled, ok1, ok2 := newServer(t), newServer(t), newServer(t)
	stalled.mode.Store(serveStall)
	p, _, ev := startPool(t, upstream.Config{Outlier: upstream.Outlier{ConsecutiveFailures: 3}}, stalled, ok1, ok2)
	front := proxyTo(t, p, 50*time.Millisecond)
	for i := range 30 {
		resp, err := http.Get(front.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d; a stalled attempt must move to another endpoint", i, resp.StatusCode)
		}
	}
	e, _ := ev.wait(t, 0, isKind("upstream.endpoint_ejected"))
	if e.(upstream.EndpointEjected).Addr != stalled.addr() {
		t.Fatal(e)
	}
	if hits := stalled.hits.Load(); hits != 3 {
		t.Fatalf("stalled endpoint got %d attempts, want 3 (then ejected)", hits)
	}
}

// TestFlappingEndpointComesBack: an endpoint that fails and recovers in
// turns is ejected and restored, and the clients see no error meanwhile.
func TestFlappingEndpointComesBack(t *testing.T) {
	flap, steady := newServer(t), newServer(t)
	p, _, ev := startPool(t, upstream.Config{Outlier: upstream.Outlier{
		ConsecutiveFailures: 2, EjectionTime: 50 * time.Millisecond, MaxEjectionTime: 50 * time.Millisecond, MaxEjectedPercent: 100,
	}}, flap, steady)
	front := proxyTo(t, p, 0)
	stop := make(chan struct{})
	var served atomic.Int64 // flap's hits while up, after the first ejection
	go func() {
		defer close(stop)
		for range 4 {
			flap.mode.Store(serve503)
			time.Sleep(150 * time.Millisecond)
			flap.mode.Store(serveOK)
			before := flap.hits.Load()
			time.Sleep(150 * time.Millisecond)
			served.Add(flap.hits.Load() - before)
		}
	}()
	results := load(t, front.URL, 4, stop)
	for _, r := range results {
		if r.status != 200 {
			t.Fatalf("a client saw %d while one of two endpoints flapped", r.status)
		}
	}
	var ejected, restored int
	for _, e := range ev.list() {
		switch e.(type) {
		case upstream.EndpointEjected:
			ejected++
		case upstream.EndpointRestored:
			restored++
		}
	}
	if ejected < 4 || restored < 3 || served.Load() == 0 {
		t.Fatalf("%d ejections, %d restorations, %d requests served while up; want the endpoint ejected each time it failed and back each time it recovered", ejected, restored, served.Load())
	}
}
