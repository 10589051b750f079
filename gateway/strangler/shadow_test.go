package strangler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/gateway/strangler"
)

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

// legacyOrder answers an order as the legacy service does.
func legacyOrder(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Side", "legacy")
	fmt.Fprintf(w, `{"id":%q,"total":10,"meta":{"request_id":"L1"},"items":[{"sku":"a","etag":"1"}]}`, r.URL.Query().Get("id"))
}

func get(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestShadowCountsMismatchesExactly(t *testing.T) {
	// the new side differs in the total for odd ids, and always in fields
	// the comparison ignores
	modern := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(strangler.HeaderShadow) != "1" {
			t.Error("a copy without the shadow header")
		}
		id := r.URL.Query().Get("id")
		total := 10
		if id[len(id)-1]%2 == 1 {
			total = 12
		}
		fmt.Fprintf(w, `{"items":[{"etag":"2","sku":"a"}],"total":%d,"meta":{"request_id":"N9"},"id":%q}`, total, id)
	})
	ev := &events{}
	rt, err := strangler.New(http.HandlerFunc(legacyOrder), modern, strangler.Config{Name: "orders", Mode: strangler.Shadow, Observer: ev,
		Shadow: strangler.ShadowConfig{MaxInFlight: 1000, IgnoreFields: []string{"meta.request_id", "items.etag"}}})
	require.NoError(t, err)
	for i := range 100 {
		rec := get(rt, fmt.Sprintf("/orders?id=%d", i))
		require.Equal(t, "legacy", rec.Header().Get("X-Side"))
		require.Contains(t, rec.Body.String(), `"total":10`)
	}
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 100, Matched: 50, Mismatched: 50}, rt.Stats())
	mismatches := 0
	for _, e := range ev.list() {
		m, ok := e.(strangler.Mismatch)
		require.True(t, ok, "%T", e)
		mismatches++
		assert.Equal(t, "orders", m.Component())
		assert.Equal(t, 200, m.NewStatus)
		assert.Equal(t, `$.total: legacy "10", new "12"`, m.Diff)
	}
	assert.Equal(t, 50, mismatches)
}

func TestShadowDifferences(t *testing.T) {
	for _, tc := range []struct {
		name   string
		legacy string
		status int
		modern string
		diff   string
	}{
		{"status", `{}`, 500, `{}`, "status: legacy 200, new 500"},
		{"missing field", `{"a":1,"b":2}`, 200, `{"a":1}`, `$.b: only in legacy: "2"`},
		{"extra field", `{"a":1}`, 200, `{"a":1,"c":[1]}`, `$.c: only in new: "[1]"`},
		{"list length", `{"a":[1,2]}`, 200, `{"a":[1]}`, "$.a: legacy has 2 elements, new 1"},
		{"list element", `[{"x":"p"}]`, 200, `[{"x":"q"}]`, `$[0].x: legacy "\"p\"", new "\"q\""`},
		{"type", `{"a":1}`, 200, `{"a":"1"}`, `$.a: legacy "1", new "\"1\""`},
		{"text", "hello world", 200, "hello there", `body differs at byte 6: legacy "world", new "there"`},
		{"same text", "same", 200, "same", ""},
		{"same JSON, other order and spacing", `{"a":1, "b":[true]}`, 200, `{"b":[true],"a":1}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			rt, err := strangler.New(
				http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tc.legacy)) }),
				http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.modern))
				}),
				strangler.Config{Mode: strangler.Shadow, Observer: ev})
			require.NoError(t, err)
			assert.Equal(t, tc.legacy, get(rt, "/").Body.String())
			require.NoError(t, rt.Close(context.Background()))
			if tc.diff == "" {
				assert.Equal(t, strangler.Stats{Shadowed: 1, Matched: 1}, rt.Stats())
				assert.Empty(t, ev.list())
				return
			}
			assert.Equal(t, strangler.Stats{Shadowed: 1, Mismatched: 1}, rt.Stats())
			require.Len(t, ev.list(), 1)
			m := ev.list()[0].(strangler.Mismatch)
			assert.Equal(t, tc.diff, m.Diff)
			assert.Equal(t, "strangler.mismatch", m.Kind())
			assert.NotEmpty(t, m.LogValue().Group())
		})
	}
}

func TestShadowNeverAffectsTheClient(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ev := &events{}
	rt, err := strangler.New(http.HandlerFunc(legacyOrder), slow, strangler.Config{Mode: strangler.Shadow, Observer: ev,
		Shadow: strangler.ShadowConfig{Timeout: strangler.Duration(time.Second)}})
	require.NoError(t, err)
	for range 5 {
		rec := get(rt, "/orders?id=1")
		assert.Equal(t, 200, rec.Code)
		assert.Equal(t, "legacy", rec.Header().Get("X-Side"))
	}
	assert.Equal(t, strangler.Stats{Shadowed: 5}, rt.Stats(), "every client was answered while its copy was still waiting")
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 5, Failed: 5}, rt.Stats())
	for _, e := range ev.list() {
		f := e.(strangler.ShadowFailed)
		assert.ErrorIs(t, f.Err, context.DeadlineExceeded)
		assert.Equal(t, "/orders", f.Path)
	}

	panicky := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	rt, err = strangler.New(http.HandlerFunc(legacyOrder), panicky, strangler.Config{Mode: strangler.Shadow, Observer: ev})
	require.NoError(t, err)
	assert.Equal(t, "legacy", get(rt, "/orders?id=1").Header().Get("X-Side"))
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 1, Failed: 1}, rt.Stats())
	last := ev.list()[len(ev.list())-1].(strangler.ShadowFailed)
	assert.ErrorContains(t, last.Err, "strangler: the new side panicked: boom")
}

func TestShadowIsBounded(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 6)
	var mu sync.Mutex
	inFlight, most := 0, 0
	modern := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		legacyOrder(w, r)
	})
	rt, err := strangler.New(http.HandlerFunc(legacyOrder), modern, strangler.Config{Mode: strangler.Shadow, Shadow: strangler.ShadowConfig{MaxInFlight: 2}})
	require.NoError(t, err)
	for range 6 {
		get(rt, "/orders?id=1")
	}
	assert.Equal(t, strangler.Stats{Shadowed: 2, Skipped: 4}, rt.Stats())
	<-entered
	<-entered
	close(release)
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, 2, most)
	assert.Equal(t, strangler.Stats{Shadowed: 2, Matched: 2, Skipped: 4}, rt.Stats())

	get(rt, "/orders?id=1")
	assert.Equal(t, int64(5), rt.Stats().Skipped, "no copy after Close")
}

func TestShadowOnlySafeRequests(t *testing.T) {
	modern := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(strangler.HeaderShadow) != "" {
			w.Header().Set("Seen-Shadow", "1")
		}
		_, _ = w.Write([]byte("new"))
	})
	rt, err := strangler.New(http.HandlerFunc(legacyOrder), modern, strangler.Config{Mode: strangler.Shadow, Overrides: []strangler.Override{{Header: "X-New", To: strangler.Modern}}})
	require.NoError(t, err)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(m, "/orders", strings.NewReader("{}")))
		assert.Equal(t, "legacy", rec.Header().Get("X-Side"))
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("X-New", "1")
	req.Header.Set(strangler.HeaderShadow, "1")
	rt.ServeHTTP(rec, req)
	assert.Equal(t, "new", rec.Body.String(), "an override is served by the new side, not shadowed")
	assert.Empty(t, rec.Header().Get("Seen-Shadow"), "a client's forged shadow header does not reach the new side")
	upgrade := httptest.NewRequest(http.MethodGet, "/orders", nil)
	upgrade.Header.Set("Upgrade", "websocket")
	rt.ServeHTTP(httptest.NewRecorder(), upgrade)
	rec = httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/orders", nil))
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 1, Mismatched: 1}, rt.Stats(), "only the HEAD was copied: not the unsafe methods, the override or the upgrade")
}

func TestCloseCancelsCopiesWhenItGivesUp(t *testing.T) {
	started := make(chan struct{})
	modern := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { close(started); <-r.Context().Done() })
	rt, err := strangler.New(http.HandlerFunc(legacyOrder), modern, strangler.Config{Mode: strangler.Shadow, Shadow: strangler.ShadowConfig{Timeout: strangler.Duration(time.Minute)}})
	require.NoError(t, err)
	get(rt, "/")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, rt.Close(ctx), context.DeadlineExceeded)
	require.NoError(t, rt.Close(context.Background()), "the copy was cancelled, so it ends")
	assert.Equal(t, strangler.Stats{Shadowed: 1, Failed: 1}, rt.Stats())
}

func TestRequestInFlightKeepsItsSettings(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	legacy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		legacyOrder(w, r)
	})
	rt, err := strangler.New(legacy, http.HandlerFunc(legacyOrder), strangler.Config{Mode: strangler.Shadow})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); get(rt, "/orders?id=1") }()
	<-entered
	require.NoError(t, rt.Reconfigure(strangler.Config{Mode: strangler.Split}))
	close(release)
	<-done
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 1, Matched: 1}, rt.Stats(), "the request that started in Shadow mode was copied")
}
