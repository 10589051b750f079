package bulwarkhttp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type middlewareFixture struct {
	runs    atomic.Int32
	handler http.Handler
	fake    *clocktest.Fake
}

func newMiddleware(t *testing.T, edit func(*bulwarkhttp.IdempotencyConfig), h http.HandlerFunc) *middlewareFixture {
	t.Helper()
	f := &middlewareFixture{fake: clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{Clock: f.fake})
	require.NoError(t, err)
	mcfg := bulwarkhttp.IdempotencyConfig{Scope: func(r *http.Request) string { return r.Header.Get("X-Client") }}
	if edit != nil {
		edit(&mcfg)
	}
	m, err := bulwarkhttp.NewIdempotency(k, mcfg)
	require.NoError(t, err)
	f.handler = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.runs.Add(1)
		h(w, r)
	}))
	return f
}

func (f *middlewareFixture) send(method, target, key, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func created(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"echo":` + string(body) + `}`))
}

func TestMiddlewareReplaysTheFirstResponseByteForByte(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"success", created},
		{"error response", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2")
			w.Header().Set("X-Request-Cost", "")
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = w.Write([]byte{0, 1, 2, 0xff, '\n'})
			_, _ = w.Write([]byte("card declined"))
		}},
		{"implicit 200, no body", func(w http.ResponseWriter, r *http.Request) {}},
		{"streamed with flushes", func(w http.ResponseWriter, r *http.Request) {
			for i := range 3 {
				_, _ = io.WriteString(w, strings.Repeat("x", i+1))
				http.NewResponseController(w).Flush()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMiddleware(t, nil, tc.handler)
			first := f.send("POST", "/charges", "k-1", `{"amount":10}`)
			assert.Empty(t, first.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
			for range 2 {
				again := f.send("POST", "/charges", "k-1", `{"amount":10}`)
				assert.Equal(t, first.Code, again.Code)
				assert.Equal(t, first.Body.Bytes(), again.Body.Bytes())
				assert.Equal(t, "true", again.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
				h := again.Header().Clone()
				h.Del(bulwarkhttp.HeaderIdempotentReplayed)
				assert.Equal(t, first.Header(), h)
			}
			assert.Equal(t, int32(1), f.runs.Load())
		})
	}
}

func TestMiddlewareStatuses(t *testing.T) {
	t.Run("409 while the first request is in flight", func(t *testing.T) {
		inside, release := make(chan struct{}), make(chan struct{})
		f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
			close(inside)
			<-release
			created(w, r)
		})
		done := make(chan *httptest.ResponseRecorder)
		go func() { done <- f.send("POST", "/charges", "k", `1`) }()
		<-inside
		dup := f.send("POST", "/charges", "k", `1`)
		assert.Equal(t, http.StatusConflict, dup.Code)
		assert.Equal(t, "60", dup.Header().Get("Retry-After"), "the first request's lease (1 minute) ends in 60 s")
		assert.Equal(t, "application/problem+json", dup.Header().Get("Content-Type"))
		f.fake.Advance(45*time.Second + 500*time.Millisecond)
		assert.Equal(t, "15", f.send("POST", "/charges", "k", `1`).Header().Get("Retry-After"), "14.5 s rounded up")
		close(release)
		assert.Equal(t, http.StatusCreated, (<-done).Code)
		assert.Equal(t, http.StatusCreated, f.send("POST", "/charges", "k", `1`).Code)
		assert.Equal(t, int32(1), f.runs.Load())
	})
	t.Run("422 on a different payload or target", func(t *testing.T) {
		f := newMiddleware(t, nil, created)
		require.Equal(t, http.StatusCreated, f.send("POST", "/charges", "k", `{"amount":10}`).Code)
		w := f.send("POST", "/charges", "k", `{"amount":11}`)
		assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
		assert.NotContains(t, w.Body.String(), "amount", "the stored response is not leaked")
		assert.Equal(t, http.StatusUnprocessableEntity, f.send("POST", "/refunds", "k", `{"amount":10}`).Code)
		assert.Equal(t, http.StatusUnprocessableEntity, f.send("PATCH", "/charges", "k", `{"amount":10}`).Code)
		assert.Equal(t, int32(1), f.runs.Load())
	})
	t.Run("400 when a required key is missing", func(t *testing.T) {
		f := newMiddleware(t, func(c *bulwarkhttp.IdempotencyConfig) { c.Required = true }, created)
		w := f.send("POST", "/charges", "", `1`)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "requires an Idempotency-Key header")
		assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
		assert.Zero(t, f.runs.Load())
	})
	t.Run("optional key missing passes through", func(t *testing.T) {
		f := newMiddleware(t, nil, created)
		for range 2 {
			assert.Equal(t, http.StatusCreated, f.send("POST", "/charges", "", `1`).Code)
		}
		assert.Equal(t, int32(2), f.runs.Load())
	})
	t.Run("other methods pass through", func(t *testing.T) {
		f := newMiddleware(t, func(c *bulwarkhttp.IdempotencyConfig) { c.Required = true }, created)
		for range 2 {
			w := f.send("GET", "/charges", "k", ``)
			assert.Equal(t, http.StatusCreated, w.Code)
			assert.Empty(t, w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
		}
		assert.Equal(t, int32(2), f.runs.Load())
	})
	t.Run("PATCH takes keys by default", func(t *testing.T) {
		f := newMiddleware(t, nil, created)
		f.send("PATCH", "/charges/1", "k", `1`)
		assert.Equal(t, "true", f.send("PATCH", "/charges/1", "k", `1`).Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
		assert.Equal(t, int32(1), f.runs.Load())
	})
	t.Run("413 on a body over the limit", func(t *testing.T) {
		f := newMiddleware(t, func(c *bulwarkhttp.IdempotencyConfig) { c.MaxBodyBytes = 8 }, created)
		assert.Equal(t, http.StatusRequestEntityTooLarge, f.send("POST", "/charges", "k", `123456789`).Code)
		assert.Equal(t, http.StatusCreated, f.send("POST", "/charges", "k", `12345678`).Code)
		for body, want := range map[string]int{"123456789": http.StatusRequestEntityTooLarge, "12345678": http.StatusCreated} {
			r := httptest.NewRequest("POST", "/charges", io.MultiReader(strings.NewReader(body))) // length unknown
			r.ContentLength = -1
			r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, "chunked")
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			assert.Equal(t, want, w.Code, "chunked body %q", body)
		}
	})
	t.Run("400 on a malformed key", func(t *testing.T) {
		f := newMiddleware(t, func(c *bulwarkhttp.IdempotencyConfig) { c.MaxKeyLength = 10 }, created)
		for _, key := range []string{strings.Repeat("k", 11), "ключ", `"unterminated\"`, `""`, `"a"b"`} {
			assert.Equal(t, http.StatusBadRequest, f.send("POST", "/charges", key, `1`).Code, "key %q", key)
		}
		r := httptest.NewRequest("POST", "/charges", strings.NewReader("1"))
		r.Header.Add(bulwarkhttp.HeaderIdempotencyKey, "a")
		r.Header.Add(bulwarkhttp.HeaderIdempotencyKey, "b")
		w := httptest.NewRecorder()
		f.handler.ServeHTTP(w, r)
		assert.Equal(t, http.StatusBadRequest, w.Code, "two key fields")
		assert.Zero(t, f.runs.Load())
	})
}

func TestMiddlewareQuotedKeyIsTheBareKey(t *testing.T) {
	f := newMiddleware(t, nil, created)
	f.send("POST", "/charges", `"8e03978e-40d5-43e8-bc93-6894a57f9324"`, `1`)
	w := f.send("POST", "/charges", `8e03978e-40d5-43e8-bc93-6894a57f9324`, `1`)
	assert.Equal(t, "true", w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	f.send("POST", "/charges", `"a\"b\\c"`, `1`)
	w = f.send("POST", "/charges", `a"b\c`, `1`)
	assert.Equal(t, "true", w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	assert.Equal(t, int32(2), f.runs.Load())
}

func TestMiddlewareScopesKeepClientsApart(t *testing.T) {
	f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secret of "+r.Header.Get("X-Client"))
	})
	assert.Equal(t, "secret of alice", f.send("POST", "/charges", "k", `1`, "X-Client", "alice").Body.String())
	w := f.send("POST", "/charges", "k", `1`, "X-Client", "mallory")
	assert.Equal(t, "secret of mallory", w.Body.String(), "a guessed key does not reach alice's response")
	assert.Empty(t, w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	assert.Equal(t, int32(2), f.runs.Load())
}

// By default, a response that says "try again" (408, 429, 5xx: an open
// breaker's 503, a timeout's 504) releases the key, so the retry runs the
// handler again instead of getting the transient failure replayed for the
// key's whole TTL; every other response is stored.
func TestMiddlewareReleasesTransientResponsesByDefault(t *testing.T) {
	for _, tc := range []struct {
		status   int
		released bool
	}{
		{http.StatusRequestTimeout, true},
		{http.StatusTooManyRequests, true},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusGatewayTimeout, true},
		{http.StatusOK, false},
		{http.StatusCreated, false},
		{http.StatusBadRequest, false},
		{http.StatusPaymentRequired, false},
		{http.StatusNotFound, false},
		{http.StatusConflict, false},
		{http.StatusUnprocessableEntity, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			first := true
			f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
				if first {
					first = false
					w.WriteHeader(tc.status)
					return
				}
				w.WriteHeader(http.StatusCreated)
			})
			assert.Equal(t, tc.status, f.send("POST", "/", "k", `1`).Code)
			again := f.send("POST", "/", "k", `1`)
			if tc.released {
				assert.Equal(t, http.StatusCreated, again.Code, "the retry ran the handler again")
				assert.Empty(t, again.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
				assert.Equal(t, int32(2), f.runs.Load())
			} else {
				assert.Equal(t, tc.status, again.Code, "the response was stored and replayed")
				assert.Equal(t, "true", again.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
				assert.Equal(t, int32(1), f.runs.Load())
			}
		})
	}
	assert.True(t, bulwarkhttp.DefaultIdempotencyConfig().Release(http.StatusServiceUnavailable), "DefaultIdempotencyConfig spells out ReleaseTransient")
}

// A Shedder behind the middleware rejects a request while its bulkhead is
// full: the 503 is not stored, and the client's retry is served.
func TestMiddlewareDoesNotStoreAShedRejection(t *testing.T) {
	full := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error {
		return fmt.Errorf("bulkhead: full: %w", bulwark.ErrRejected)
	})
	shedding := true
	policy := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if shedding {
			return full.Do(ctx, op)
		}
		return op(ctx)
	})
	shedder, err := bulwarkhttp.NewShedder(policy, bulwarkhttp.ShedderConfig{})
	require.NoError(t, err)
	f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
		shedder.Handler(http.HandlerFunc(created)).ServeHTTP(w, r)
	})
	w := f.send("POST", "/charges", "k", `1`)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	shedding = false
	w = f.send("POST", "/charges", "k", `1`)
	assert.Equal(t, http.StatusCreated, w.Code, "the retry was served, not given the stored 503")
	assert.Equal(t, "true", f.send("POST", "/charges", "k", `1`).Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
}

func TestMiddlewareReleaseIsConfigurableAndPanicsRelease(t *testing.T) {
	status := http.StatusConflict
	f := newMiddleware(t, func(c *bulwarkhttp.IdempotencyConfig) {
		c.Release = func(s int) bool { return s == http.StatusConflict }
	}, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Panic") != "" {
			panic("handler bug")
		}
		w.WriteHeader(status)
	})
	assert.Equal(t, http.StatusConflict, f.send("POST", "/", "k", `1`).Code)
	assert.Panics(t, func() { f.send("POST", "/", "k", `1`, "X-Panic", "1") })
	status = http.StatusServiceUnavailable
	assert.Equal(t, http.StatusServiceUnavailable, f.send("POST", "/", "k", `1`).Code)
	w := f.send("POST", "/", "k", `1`)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code, "a Release that keeps 503 stores it")
	assert.Equal(t, "true", w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	assert.Equal(t, int32(3), f.runs.Load())
}

// A request without a key (keys optional, the default) reaches the handler
// with no Attempt, and the nil Attempt's methods are safe.
func TestMiddlewareKeylessRequestHasASafeNilAttempt(t *testing.T) {
	var number int
	var ref idempotency.Ref
	var downstream string
	var checkpoint error
	f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
		att := idempotency.AttemptFrom(r.Context())
		assert.Nil(t, att)
		number, ref, downstream = att.Number(), att.Ref(), att.DownstreamKey("payments")
		checkpoint = att.Checkpoint(r.Context(), []byte("charged"))
		assert.Nil(t, att.RecoveryPoint())
		w.WriteHeader(http.StatusCreated)
	})
	assert.Equal(t, http.StatusCreated, f.send("POST", "/", "", `1`).Code)
	assert.Zero(t, number)
	assert.Zero(t, ref)
	assert.Empty(t, downstream)
	assert.NoError(t, checkpoint)
}

// The key a handler derives for a downstream call is the same on every
// retry of the request, and differs per purpose and per client.
func TestMiddlewareDownstreamKeys(t *testing.T) {
	var keys []string
	f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
		att := idempotency.AttemptFrom(r.Context())
		keys = append(keys, att.DownstreamKey("payments.charge"), att.DownstreamKey("stock.reserve"))
		w.WriteHeader(http.StatusServiceUnavailable) // released: the retry runs again
	})
	f.send("POST", "/", "k", `1`, "X-Client", "alice")
	f.send("POST", "/", "k", `1`, "X-Client", "alice")
	f.send("POST", "/", "k", `1`, "X-Client", "bob")
	require.Len(t, keys, 6)
	assert.Equal(t, keys[0:2], keys[2:4], "a retry derives the same keys")
	assert.NotEqual(t, keys[0], keys[1], "one key per purpose")
	assert.NotEqual(t, keys[0], keys[4], "another client's same key derives another key")
	assert.Len(t, keys[0], 43)
}

func TestMiddlewareHandlerReadsTheBody(t *testing.T) {
	f := newMiddleware(t, nil, created)
	assert.Equal(t, `{"echo":{"amount":10}}`, f.send("POST", "/", "k", `{"amount":10}`).Body.String())
}

// faultyStore wraps a store and fails or corrupts what the test asks for.
type faultyStore struct {
	idempotency.Store
	claimErr, completeErr error
	outcome               []byte // replaces stored outcomes when set
	afterClaim            func()
}

func (s *faultyStore) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	if s.claimErr != nil {
		return idempotency.Record{}, s.claimErr
	}
	rec, err := s.Store.Claim(ctx, c)
	if s.afterClaim != nil {
		s.afterClaim()
	}
	if s.outcome != nil && rec.State == idempotency.Completed {
		rec.Outcome = s.outcome
	}
	return rec, err
}

func (s *faultyStore) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, exp time.Time) error {
	if s.completeErr != nil {
		return s.completeErr
	}
	return s.Store.Complete(ctx, ref, token, outcome, exp)
}

func faultyMiddleware(t *testing.T, s *faultyStore, logger *slog.Logger, h http.HandlerFunc) http.Handler {
	t.Helper()
	k, err := idempotency.New(s, idempotency.Config{})
	require.NoError(t, err)
	m, err := bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{Logger: logger})
	require.NoError(t, err)
	return m.Handler(h)
}

func TestMiddlewareStoreFailures(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	h := faultyMiddleware(t, s, logger, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("done")) })
	key := "k1"
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/", strings.NewReader("1"))
		r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	s.claimErr = errors.New("connection refused")
	w := send()
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"), "no wait is known: the shortest")
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.NotContains(t, w.Body.String(), "connection refused", "the store's error stays in the logs")
	assert.Contains(t, logs.String(), `error="idempotency: claiming key \"k1\": connection refused"`)

	s.claimErr, s.completeErr = nil, errors.New("write failed")
	w = send()
	assert.Equal(t, http.StatusOK, w.Code, "the response reaches the client though it could not be stored")
	assert.Equal(t, "done", w.Body.String())
	assert.Contains(t, logs.String(), "write failed")

	s.completeErr, key = nil, "k2" // k1 stays in progress until its lease ends
	require.Equal(t, http.StatusOK, send().Code)
	s.outcome = []byte("h\x00")
	w = send()
	assert.Equal(t, http.StatusInternalServerError, w.Code, "an unreadable stored response is not replayed")
	assert.Contains(t, logs.String(), "unreadable")
}

func TestMiddlewareFinishesAClaimedRequestWhenTheClientLeaves(t *testing.T) {
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	runs := 0
	h := faultyMiddleware(t, s, nil, func(w http.ResponseWriter, r *http.Request) { runs++; _, _ = w.Write([]byte("done")) })
	ctx, cancel := context.WithCancel(context.Background())
	s.afterClaim = cancel // the client hangs up right after the key was claimed
	r := httptest.NewRequest("POST", "/", strings.NewReader("1")).WithContext(ctx)
	r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, "k")
	h.ServeHTTP(httptest.NewRecorder(), r)
	s.afterClaim = nil
	r = httptest.NewRequest("POST", "/", strings.NewReader("1"))
	r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, "k")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, "true", w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed), "the claimed request ran and was stored, not left in progress")
	assert.Equal(t, 1, runs)
}

func TestNewIdempotencyRejectsInvalidConfig(t *testing.T) {
	k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	require.NoError(t, err)
	_, err = bulwarkhttp.NewIdempotency(nil, bulwarkhttp.IdempotencyConfig{})
	assert.EqualError(t, err, "bulwarkhttp: NewIdempotency needs a keeper, got nil")
	_, err = bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{MaxBodyBytes: -1})
	assert.EqualError(t, err, "bulwarkhttp: IdempotencyConfig.MaxBodyBytes must be 0 (meaning 1048576) or > 0, got -1")
	_, err = bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{MaxKeyLength: -1})
	assert.EqualError(t, err, "bulwarkhttp: IdempotencyConfig.MaxKeyLength must be 0 (meaning 255) or > 0, got -1")
	assert.PanicsWithValue(t, "bulwarkhttp: Idempotency used without NewIdempotency", func() { new(bulwarkhttp.Idempotency).Handler(http.NotFoundHandler()) })
}

// FuzzNewIdempotency feeds NewIdempotency arbitrary limits and methods: it
// returns an error, or a middleware that runs a keyed request once and
// replays it, and answers 413 or 400 past its limits.
func FuzzNewIdempotency(f *testing.F) {
	f.Add(int64(0), 0, "", "body", "key")
	f.Add(int64(4), 3, "POST", "12345", "abcd")
	f.Add(int64(-1), 0, "PUT", "", "k")
	f.Add(int64(1<<62), 1<<30, "PATCH", "x", "k")
	f.Add(int64(1), -5, "POST", "", "")
	f.Fuzz(func(t *testing.T, maxBody int64, maxKey int, method, body, key string) {
		k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
		require.NoError(t, err)
		cfg := bulwarkhttp.IdempotencyConfig{MaxBodyBytes: maxBody, MaxKeyLength: maxKey}
		if validMethod(method) {
			cfg.Methods = []string{method}
		} else {
			method = http.MethodPost // a default method
		}
		m, err := bulwarkhttp.NewIdempotency(k, cfg)
		if err != nil {
			require.Contains(t, err.Error(), "bulwarkhttp: IdempotencyConfig.")
			return
		}
		runs := 0
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++; w.WriteHeader(http.StatusCreated) }))
		var codes []int
		for range 2 {
			r := httptest.NewRequest(method, "/", strings.NewReader(body))
			r.Header[bulwarkhttp.HeaderIdempotencyKey] = []string{key}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			codes = append(codes, w.Code)
		}
		switch codes[0] {
		case http.StatusCreated:
			require.Equal(t, http.StatusCreated, codes[1], "replayed")
			require.Equal(t, 1, runs)
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			require.Zero(t, runs)
			require.Equal(t, codes[0], codes[1])
		default:
			t.Fatalf("status %d", codes[0])
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}
