package compose_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark"
)

// server starts an upstream that answers with h and is closed after the test.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// transport returns a transport of the test's own, whose idle connections
// are closed after it.
func transport(t *testing.T) *http.Transport {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// json answers body as application/json.
func jsonAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// stall answers only when the request is cancelled.
func stall(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// serve sends a request for target through a mux that routes pattern to h.
func serve(h http.Handler, pattern, target string, header http.Header) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle(pattern, h)
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// events records the events observed.
type events struct {
	mu  sync.Mutex
	all []bulwark.Event
}

func (e *events) Observe(_ context.Context, ev bulwark.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []bulwark.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bulwark.Event(nil), e.all...)
}
