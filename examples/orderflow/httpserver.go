package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/chaos"
)

// server is one service's HTTP server on a free port of the loopback
// interface.
type server struct {
	http    *http.Server
	url     string
	done    chan struct{}
	handler atomic.Pointer[http.Handler] // trace swaps it for its traced self
}

func serve(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String(), done: make(chan struct{})}
	s.handler.Store(&h)
	s.http = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) }), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// trace runs each request from now on in a server span of service
// (tracing.handler).
func (s *server) trace(tr *tracing, service string) {
	h := tr.handler(service, *s.handler.Load())
	s.handler.Store(&h)
}

// close stops the server at once, dropping connections in flight.
func (s *server) close() {
	_ = s.http.Close()
	<-s.done
}

// withChaos puts a chaos injector in front of a service. What it injects
// looks to callers like the service, or the network in front of it,
// failing: an injected error is a 503, injected latency a slow answer that
// ends early when the caller hangs up.
func withChaos(inj *chaos.Injector, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := inj.Do(r.Context(), func(ctx context.Context) error {
			next.ServeHTTP(w, r.WithContext(ctx))
			return nil
		})
		if err != nil && r.Context().Err() == nil {
			problem(w, http.StatusServiceUnavailable, err.Error())
		}
	})
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// problem answers with status and an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

// decodeJSON reads r's JSON body into v, answering 400 if it cannot.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		problem(w, http.StatusBadRequest, "the body is not the JSON expected: "+err.Error())
		return false
	}
	return true
}

// nextNumber counts name up by one in tx and returns the new count: a
// gap-free sequence for readable IDs, in SQL both engines run. The counter
// must exist (see counterRow).
func nextNumber(ctx context.Context, tx *sql.Tx, name string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `UPDATE counters SET n = n + 1 WHERE name = $1 RETURNING n`, name).Scan(&n)
	return n, err
}

// migrate runs DDL statements one at a time.
func migrate(ctx context.Context, db *sql.DB, statements ...string) error {
	for _, s := range statements {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// countersTable holds the sequences of nextNumber; counterRow starts one.
const countersTable = `CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL)`

func counterRow(name string) string {
	return `INSERT INTO counters (name, n) VALUES ('` + name + `', 0) ON CONFLICT DO NOTHING`
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
