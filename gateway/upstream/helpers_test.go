package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The modes of a test upstream.
const (
	serveOK int32 = iota
	serve503
	serveStall // hold the request until released or cancelled
)

// server is an upstream on loopback whose behaviour a test switches.
type server struct {
	*httptest.Server
	hits      atomic.Int64
	mode      atomic.Int32
	unhealthy atomic.Bool // /healthz answers 500
	release   chan struct{}
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if s.unhealthy.Load() {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		s.hits.Add(1)
		switch s.mode.Load() {
		case serve503:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case serveStall:
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, s.addr())
	}))
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() { close(s.release) })
		s.Close()
	})
	return s
}

func (s *server) addr() string { return s.Listener.Addr().String() }

// events records a pool's events and lets a test wait for one.
type events struct {
	mu   sync.Mutex
	cond *sync.Cond
	all  []bulwark.Event
}

func newEvents() *events {
	e := &events{}
	e.cond = sync.NewCond(&e.mu)
	return e
}

func (e *events) Observe(_ context.Context, ev bulwark.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.cond.Broadcast()
}

// wait returns the first event from index from on that match accepts, and
// its index, failing the test after 10 seconds.
func (e *events) wait(t *testing.T, from int, match func(bulwark.Event) bool) (bulwark.Event, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	stop := context.AfterFunc(ctxUntil(t, deadline), func() {
		e.mu.Lock() // the waiter is in Wait, not between its check and Wait
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := from; ; i++ {
		for i >= len(e.all) {
			if time.Now().After(deadline) {
				t.Fatalf("no matching event after 10s; events: %v", e.all)
			}
			e.cond.Wait()
		}
		if match(e.all[i]) {
			return e.all[i], i
		}
	}
}

func (e *events) list() []bulwark.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bulwark.Event(nil), e.all...)
}

func ctxUntil(t *testing.T, deadline time.Time) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

func isKind(kind string) func(bulwark.Event) bool {
	return func(e bulwark.Event) bool { return e.Kind() == kind }
}

// startPool runs a pool over servers and waits until it has them all.
func startPool(t *testing.T, cfg upstream.Config, servers ...*server) (*upstream.Pool, *discovery.Static, *events) {
	t.Helper()
	ev := newEvents()
	cfg.Observer = bulwark.Observers(cfg.Observer, ev)
	r := discovery.NewStatic()
	eps := make([]discovery.Endpoint, len(servers))
	for i, s := range servers {
		eps[i] = discovery.Endpoint{Addr: s.addr()}
	}
	if err := r.Set("svc", eps); err != nil {
		t.Fatal(err)
	}
	p, err := upstream.New(r, "svc", cfg)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if len(servers) > 0 {
		ev.wait(t, 0, isKind("upstream.endpoints_changed"))
	}
	return p, r, ev
}

// get sends GET / through rt and returns the status and body; status 0
// with the error when there is no response.
func get(ctx context.Context, rt http.RoundTripper) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc/", nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// state returns addr's entry of p.Endpoints().
func state(t *testing.T, p *upstream.Pool, addr string) upstream.EndpointState {
	t.Helper()
	for _, s := range p.Endpoints() {
		if s.Addr == addr {
			return s
		}
	}
	t.Fatalf("no endpoint %s in %v", addr, p.Endpoints())
	return upstream.EndpointState{}
}
