package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestSpansPerRequestAndAttemptAndTraceContextReachesTheUpstream(t *testing.T) {
	var mu sync.Mutex
	var parents []string
	fails := 1
	addr := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		parents = append(parents, r.Header.Get("Traceparent"))
		if fails > 0 && r.URL.Path == "/traced" {
			fails--
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())
	cfg := testConfig()
	cfg.TracerProvider = tp
	cfg.Propagator = propagation.TraceContext{}
	_, srv := start(t, doc(t, `
upstreams: {svc: {endpoints: ["{a}"]}}
routes: [{name: traced, match: /traced, upstream: svc, policies: {retry: {max_attempts: 2, backoff: 1ms}}}, {match: /probe, upstream: svc}]
`, "{a}", addr), cfg, "/probe")
	exporter.Reset()
	mu.Lock()
	parents = nil
	mu.Unlock()

	// The client's own trace.
	clientTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", srv.URL+"/traced", nil)
	req.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	if status, _, _ := send(t, req); status != 200 {
		t.Fatalf("status %d", status)
	}

	spans := exporter.GetSpans()
	var server []tracetest.SpanStub
	var clients []tracetest.SpanStub
	for _, s := range spans {
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = append(server, s)
		case trace.SpanKindClient:
			clients = append(clients, s)
		}
	}
	if len(server) != 1 || len(clients) != 2 {
		t.Fatalf("got %d server and %d client spans, want 1 and 2 (one per attempt)", len(server), len(clients))
	}
	if server[0].Name != "GET traced" || server[0].SpanContext.TraceID().String() != clientTrace {
		t.Errorf("server span %q in trace %s, want \"GET traced\" in the client's trace", server[0].Name, server[0].SpanContext.TraceID())
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range clients {
		if c.Parent.SpanID() != server[0].SpanContext.SpanID() {
			t.Errorf("attempt %d's span is not a child of the server span", i)
		}
		want := "00-" + clientTrace + "-" + c.SpanContext.SpanID().String() + "-01"
		if !containsString(parents, want) {
			t.Errorf("no upstream request carried traceparent %s (got %v)", want, parents)
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestRequestIDsAreKeptOrMadeAndLoggedWithTheRoute(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	addr := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Request-Id"))
		mu.Unlock()
	})
	var logs bytes.Buffer
	var logMu sync.Mutex
	cfg := testConfig()
	cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, nil))
	_, srv := start(t, doc(t, `
upstreams: {svc: {endpoints: ["{a}"]}}
routes: [{name: ids, match: /, upstream: svc}]
`, "{a}", addr), cfg, "/")

	req, _ := http.NewRequest("GET", srv.URL+"/kept", nil)
	req.Header.Set("X-Request-Id", "client-chosen-1")
	_, _, h := send(t, req)
	if h.Get("X-Request-Id") != "client-chosen-1" {
		t.Errorf("kept id answered as %q", h.Get("X-Request-Id"))
	}
	_, _, h = get(t, srv.URL+"/made")
	made := h.Get("X-Request-Id")
	if len(made) != 36 {
		t.Errorf("made id %q, want a UUID", made)
	}
	mu.Lock()
	if got := seen[len(seen)-2:]; got[0] != "client-chosen-1" || got[1] != made {
		t.Errorf("upstream saw ids %v, want [client-chosen-1 %s]", got, made)
	}
	mu.Unlock()

	logMu.Lock()
	defer logMu.Unlock()
	found := false
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "request" && rec["request_id"] == made {
			found = true
			if rec["route"] != "ids" || rec["upstream"] != "svc" || rec["endpoint"] != addr || rec["status"] != float64(200) || rec["path"] != "/made" {
				t.Errorf("access log record %v", rec)
			}
		}
	}
	if !found {
		t.Fatalf("no access log record for request %s in\n%s", made, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A no-op tracer provider starts no spans, but the trace context the
// client sent still reaches the upstream, and a request without one
// reaches it without.
func TestNoopTracerProviderStillPassesTheTraceContextOn(t *testing.T) {
	var mu sync.Mutex
	var parents []string
	addr := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		parents = append(parents, r.Header.Get("Traceparent"))
	})
	cfg := testConfig()
	cfg.TracerProvider = noop.NewTracerProvider()
	cfg.Propagator = propagation.TraceContext{}
	_, srv := start(t, doc(t, `
upstreams: {svc: {endpoints: ["{a}"]}}
routes: [{match: /, upstream: svc}]
`, "{a}", addr), cfg, "/probe")

	sent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest("GET", srv.URL+"/traced", nil)
	req.Header.Set("Traceparent", sent)
	if status, _, _ := send(t, req); status != 200 {
		t.Fatalf("status %d", status)
	}
	if status, _, _ := get(t, srv.URL+"/untraced"); status != 200 {
		t.Fatalf("status %d", status)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := parents[len(parents)-2:]; got[0] != sent || got[1] != "" {
		t.Errorf("upstream saw traceparents %q, want [%q \"\"]", got, sent)
	}
}

// lateExporter receives the spans of the global tracer provider, which
// TestGlobalTracerProviderSetAfterNewGetsSpans sets once per process (a
// global provider can be set only once to take over the unset one).
var (
	lateOnce     sync.Once
	lateExporter = tracetest.NewInMemoryExporter()
)

// A Gateway made while the global tracer provider is unset starts spans
// once one is set.
func TestGlobalTracerProviderSetAfterNewGetsSpans(t *testing.T) {
	addr := upstream(t, func(http.ResponseWriter, *http.Request) {})
	_, srv := start(t, doc(t, `
upstreams: {svc: {endpoints: ["{a}"]}}
routes: [{name: late, match: /, upstream: svc}]
`, "{a}", addr), testConfig(), "/probe")

	lateOnce.Do(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(lateExporter)))
	})
	lateExporter.Reset()
	if status, _, _ := get(t, srv.URL+"/x"); status != 200 {
		t.Fatalf("status %d", status)
	}
	kinds := map[trace.SpanKind]int{}
	for _, s := range lateExporter.GetSpans() {
		kinds[s.SpanKind]++
	}
	if kinds[trace.SpanKindServer] != 1 || kinds[trace.SpanKindClient] != 1 {
		t.Errorf("spans by kind %v, want one server and one client span", kinds)
	}
}
