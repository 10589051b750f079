package idempotency_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

func newMiddleware(t *testing.T, edit func(*idempotency.MiddlewareConfig), h http.HandlerFunc) *middlewareFixture {
	t.Helper()
	f := &middlewareFixture{fake: clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	cfg := idempotency.DefaultConfig()
	cfg.Store, cfg.Clock = idempotency.NewMemoryStore(), f.fake
	k, err := idempotency.New(cfg)
	require.NoError(t, err)
	mcfg := idempotency.DefaultMiddlewareConfig()
	mcfg.Keeper = k
	mcfg.Scope = func(r *http.Request) string { return r.Header.Get("X-Client") }
	if edit != nil {
		edit(&mcfg)
	}
	m, err := idempotency.NewMiddleware(mcfg)
	require.NoError(t, err)
	f.handler = m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.runs.Add(1)
		h(w, r)
	}))
	return f
}

func (f *middlewareFixture) send(method, target, key, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		r.Header.Set(idempotency.KeyHeader, key)
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
			assert.Empty(t, first.Header().Get(idempotency.ReplayedHeader))
			for range 2 {
				again := f.send("POST", "/charges", "k-1", `{"amount":10}`)
				assert.Equal(t, first.Code, again.Code)
				assert.Equal(t, first.Body.Bytes(), again.Body.Bytes())
				assert.Equal(t, "true", again.Header().Get(idempotency.ReplayedHeader))
				h := again.Header().Clone()
				h.Del(idempotency.ReplayedHeader)
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
		assert.Equal(t, "1", dup.Header().Get("Retry-After"))
		assert.Equal(t, "application/problem+json", dup.Header().Get("Content-Type"))
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
		f := newMiddleware(t, func(c *idempotency.MiddlewareConfig) { c.Required = true }, created)
		w := f.send("POST", "/charges", "", `1`)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), "Idempotency-Key is missing")
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
		f := newMiddleware(t, func(c *idempotency.MiddlewareConfig) { c.Required = true }, created)
		for range 2 {
			w := f.send("GET", "/charges", "k", ``)
			assert.Equal(t, http.StatusCreated, w.Code)
			assert.Empty(t, w.Header().Get(idempotency.ReplayedHeader))
		}
		assert.Equal(t, int32(2), f.runs.Load())
	})
	t.Run("PATCH takes keys by default", func(t *testing.T) {
		f := newMiddleware(t, nil, created)
		f.send("PATCH", "/charges/1", "k", `1`)
		assert.Equal(t, "true", f.send("PATCH", "/charges/1", "k", `1`).Header().Get(idempotency.ReplayedHeader))
		assert.Equal(t, int32(1), f.runs.Load())
	})
	t.Run("413 on a body over the limit", func(t *testing.T) {
		f := newMiddleware(t, func(c *idempotency.MiddlewareConfig) { c.MaxBodyBytes = 8 }, created)
		assert.Equal(t, http.StatusRequestEntityTooLarge, f.send("POST", "/charges", "k", `123456789`).Code)
		assert.Equal(t, http.StatusCreated, f.send("POST", "/charges", "k", `12345678`).Code)
		for body, want := range map[string]int{"123456789": http.StatusRequestEntityTooLarge, "12345678": http.StatusCreated} {
			r := httptest.NewRequest("POST", "/charges", io.MultiReader(strings.NewReader(body))) // length unknown
			r.ContentLength = -1
			r.Header.Set(idempotency.KeyHeader, "chunked")
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			assert.Equal(t, want, w.Code, "chunked body %q", body)
		}
	})
	t.Run("400 on a malformed key", func(t *testing.T) {
		f := newMiddleware(t, func(c *idempotency.MiddlewareConfig) { c.MaxKeyLength = 10 }, created)
		for _, key := range []string{strings.Repeat("k", 11), "ключ", `"unterminated\"`, `""`, `"a"b"`} {
			assert.Equal(t, http.StatusBadRequest, f.send("POST", "/charges", key, `1`).Code, "key %q", key)
		}
		r := httptest.NewRequest("POST", "/charges", strings.NewReader("1"))
		r.Header.Add(idempotency.KeyHeader, "a")
		r.Header.Add(idempotency.KeyHeader, "b")
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
	assert.Equal(t, "true", w.Header().Get(idempotency.ReplayedHeader))
	f.send("POST", "/charges", `"a\"b\\c"`, `1`)
	w = f.send("POST", "/charges", `a"b\c`, `1`)
	assert.Equal(t, "true", w.Header().Get(idempotency.ReplayedHeader))
	assert.Equal(t, int32(2), f.runs.Load())
}

func TestMiddlewareScopesKeepClientsApart(t *testing.T) {
	f := newMiddleware(t, nil, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secret of "+r.Header.Get("X-Client"))
	})
	assert.Equal(t, "secret of alice", f.send("POST", "/charges", "k", `1`, "X-Client", "alice").Body.String())
	w := f.send("POST", "/charges", "k", `1`, "X-Client", "mallory")
	assert.Equal(t, "secret of mallory", w.Body.String(), "a guessed key does not reach alice's response")
	assert.Empty(t, w.Header().Get(idempotency.ReplayedHeader))
	assert.Equal(t, int32(2), f.runs.Load())
}

func TestMiddlewareReleasesRetryableResponsesAndPanics(t *testing.T) {
	status := http.StatusServiceUnavailable
	f := newMiddleware(t, func(c *idempotency.MiddlewareConfig) {
		c.Retryable = func(s int) bool { return s == http.StatusServiceUnavailable }
	}, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Panic") != "" {
			panic("handler bug")
		}
		w.WriteHeader(status)
	})
	assert.Equal(t, http.StatusServiceUnavailable, f.send("POST", "/", "k", `1`).Code)
	assert.Panics(t, func() { f.send("POST", "/", "k", `1`, "X-Panic", "1") })
	status = http.StatusOK
	assert.Equal(t, http.StatusOK, f.send("POST", "/", "k", `1`).Code)
	assert.Equal(t, "true", f.send("POST", "/", "k", `1`).Header().Get(idempotency.ReplayedHeader))
	assert.Equal(t, int32(3), f.runs.Load())
}

func TestMiddlewareHandlerReadsTheBody(t *testing.T) {
	f := newMiddleware(t, nil, created)
	assert.Equal(t, `{"echo":{"amount":10}}`, f.send("POST", "/", "k", `{"amount":10}`).Body.String())
}
