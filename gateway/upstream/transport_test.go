package upstream_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// TestDefaultTransportKeepsConnectionsPerEndpoint: a second wave of 32
// concurrent requests reuses the 32 connections of the first, where
// http.DefaultTransport keeps 2 idle per host and would dial 30 again.
func TestDefaultTransportKeepsConnectionsPerEndpoint(t *testing.T) {
	const n = 32
	var (
		dialed  atomic.Int64
		mu      sync.Mutex
		arrived int
		wave    = make(chan struct{})
	)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == n { // hold every request until the whole wave is in
			close(wave)
			arrived, wave = 0, make(chan struct{})
			mu.Unlock()
			return
		}
		ch := wave
		mu.Unlock()
		<-ch
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			dialed.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	r := discovery.NewStatic()
	_ = r.Set("svc", []discovery.Endpoint{{Addr: s.Listener.Addr().String()}})
	ev := newEvents()
	p, err := upstream.New(r, "svc", upstream.Config{Observer: ev})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	defer func() {
		_ = p.Close(context.Background())
		<-done
	}()
	ev.wait(t, 0, isKind("upstream.endpoints_changed"))
	for w := range 2 {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if status, _, err := get(context.Background(), p); err != nil || status != 200 {
					t.Errorf("%d %v", status, err)
				}
			})
		}
		wg.Wait()
		if got := dialed.Load(); got != n {
			t.Fatalf("after wave %d: %d connections dialed, want %d (kept idle between waves)", w+1, got, n)
		}
	}
}
