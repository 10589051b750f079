package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/require"
)

const token = "operator-token-0123456789"

// system is what the tests' console shows: a policy set, an outbox with
// one dead letter, fakes for sagas, projections and a component, and an
// audit log in a buffer.
type system struct {
	set     *policyset.Set
	store   *outbox.MemoryStore
	sagas   *fakeSagas
	proj    *fakeProjections
	comp    *fakeComponent
	audit   *syncBuffer
	console *console.Console
	server  *httptest.Server
}

func newSystem(t *testing.T, mutate func(*console.Config)) *system {
	t.Helper()
	doc, err := policyset.Parse([]byte(`{"policies": {
		"dep": {"circuit_breaker": {"consecutive_failures": 3, "open_wait": "1h"}, "bulkhead": {"max_concurrent": 4}, "timeout": {"timeout": "1s"}}
	}}`))
	require.NoError(t, err)
	s := &system{store: outbox.NewMemoryStore(), sagas: &fakeSagas{stuck: map[string]bool{"order-1": true}},
		proj: &fakeProjections{parked: map[string]bool{"totals": true}}, comp: &fakeComponent{}, audit: &syncBuffer{}}
	s.set, err = policyset.New(doc, policyset.Config{})
	require.NoError(t, err)
	deadLetter(t, s.store, "order-1")
	cfg := console.Config{
		Policies:    s.set,
		Outboxes:    map[string]console.Outbox{"orders": s.store},
		Sagas:       map[string]console.Sagas{"checkout": s.sagas},
		Projections: map[string]console.Projections{"reports": s.proj},
		Components:  map[string]console.Component{"gateway": s.comp},
		Tokens:      map[string]string{"alice": token},
		AuditLog:    slog.New(slog.NewJSONHandler(s.audit, nil)),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s.console, err = console.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", s.console))
	s.server = httptest.NewServer(mux)
	t.Cleanup(func() {
		require.NoError(t, s.console.Close(context.Background()))
		s.server.Close()
	})
	return s
}

// deadLetter enqueues a message and has a relay whose publisher fails
// dead-letter it at its first attempt.
func deadLetter(t *testing.T, store *outbox.MemoryStore, key string) {
	t.Helper()
	ctx := context.Background()
	before, err := store.Stats(ctx)
	require.NoError(t, err)
	require.NoError(t, store.Enqueue(ctx, outbox.NewMessage("orders", key, []byte(`{"secret":"s3cr3t"}`))))
	relay, err := outbox.NewRelay(store, outbox.PublisherFunc(func(context.Context, outbox.Message) error {
		return errors.New("broker down")
	}), outbox.Config{MaxAttempts: 1})
	require.NoError(t, err)
	_, err = relay.ProcessBatch(ctx)
	require.NoError(t, err)
	st, err := store.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, before.DeadLetters+1, st.DeadLetters)
}

// session returns the CSRF token and its cookie, as the page gets them.
func (s *system) session(t *testing.T) (string, *http.Cookie) {
	t.Helper()
	resp, err := http.Get(s.server.URL + "/ops/api/session")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		CSRF string `json:"csrf"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	if body.CSRF == "" {
		return "", nil
	}
	for _, ck := range resp.Cookies() {
		if ck.Value == body.CSRF {
			return body.CSRF, ck
		}
	}
	t.Fatal("api/session set no cookie with its token")
	return "", nil
}

// post sends an action as the page does: same origin, the operator's
// token, the CSRF token in the header and the cookie.
func (s *system) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	csrf, ck := s.session(t)
	return s.do(t, path, body, map[string]string{"Authorization": "Bearer " + token, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"}, ck)
}

func (s *system) do(t *testing.T, path, body string, headers map[string]string, ck *http.Cookie) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.server.URL+"/ops"+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func (s *system) state(t *testing.T) console.State {
	t.Helper()
	resp, err := http.Get(s.server.URL + "/ops/api/state")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st console.State
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

type fakeSagas struct {
	mu    sync.Mutex
	stuck map[string]bool
	log   []string
}

func (f *fakeSagas) NeedAttention(context.Context, int) ([]console.StuckSaga, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []console.StuckSaga
	for id, stuck := range f.stuck {
		if stuck {
			out = append(out, console.StuckSaga{ID: id, Step: "refund", Error: "bank down"})
		}
	}
	return out, nil
}

func (f *fakeSagas) Resume(_ context.Context, id string) error { return f.settle(id, "resume") }

func (f *fakeSagas) Abandon(_ context.Context, id, reason string) error {
	return f.settle(id, "abandon: "+reason)
}

func (f *fakeSagas) settle(id, what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stuck[id] {
		return errors.New("saga " + id + " does not need attention")
	}
	f.stuck[id] = false
	f.log = append(f.log, id+" "+what)
	return nil
}

type fakeProjections struct {
	mu     sync.Mutex
	parked map[string]bool
	log    []string
}

func (f *fakeProjections) Status(context.Context) ([]cqrs.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cqrs.Status
	for name, parked := range f.parked {
		st := cqrs.Status{Checkpoint: cqrs.Checkpoint{Name: name, Version: 1, Position: 7}, Lag: 3}
		if parked {
			st.Failed = cqrs.Failure{Position: 8, Error: "bad event"}
		}
		out = append(out, st)
	}
	return out, nil
}

func (f *fakeProjections) Resume(_ context.Context, name string) error { return f.op(name, "resume") }
func (f *fakeProjections) Skip(_ context.Context, name string) error   { return f.op(name, "skip") }
func (f *fakeProjections) Rebuild(_ context.Context, name string) error {
	return f.op(name, "rebuild")
}

func (f *fakeProjections) op(name, what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.parked[name]; !ok {
		return cqrs.ErrNotParked
	}
	f.parked[name] = false
	f.log = append(f.log, name+" "+what)
	return nil
}

type fakeComponent struct {
	mu  sync.Mutex
	log []string
}

func (f *fakeComponent) Snapshot(context.Context) (json.RawMessage, error) {
	return json.RawMessage(`{"routes":1}`), nil
}

func (f *fakeComponent) Actions() []string { return []string{"drain"} }

func (f *fakeComponent) Act(_ context.Context, action, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, action+" "+target)
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
