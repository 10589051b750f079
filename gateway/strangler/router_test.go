package strangler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/gateway/strangler"
)

// side answers with its name.
func side(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) }
}

func newRouter(t *testing.T, cfg strangler.Config) *strangler.Router {
	t.Helper()
	rt, err := strangler.New(side("legacy"), side("new"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, rt.Close(context.Background())) })
	return rt
}

// served returns the side that answered a request from client.
func served(rt http.Handler, client string) string {
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("X-Client", client)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	return rec.Body.String()
}

func TestWeightSplitsClients(t *testing.T) {
	const clients = 10000
	for _, weight := range []int{0, 1, 10, 30, 50, 90, 100} {
		rt := newRouter(t, strangler.Config{Weight: weight, StickyBy: strangler.ByHeader, StickyName: "x-client"})
		toNew := 0
		for i := range clients {
			if served(rt, fmt.Sprintf("client-%d", i)) == "new" {
				toNew++
			}
		}
		share := float64(toNew) / clients * 100
		assert.InDelta(t, float64(weight), share, 1.5, "weight %d: %d of %d clients to the new side", weight, toNew, clients)
		if weight == 0 || weight == 100 {
			assert.Equal(t, weight*clients/100, toNew)
		}
	}
}

func TestClientsStayOnTheirSide(t *testing.T) {
	rt := newRouter(t, strangler.Config{Weight: 50, StickyBy: strangler.ByHeader, StickyName: "X-Client"})
	sides := map[string]int{}
	for i := range 200 {
		client := fmt.Sprintf("c%d", i)
		first := served(rt, client)
		sides[first]++
		for range 5 {
			require.Equal(t, first, served(rt, client), client)
		}
		assert.Equal(t, strangler.Bucket(client) < 50, first == "new")
	}
	assert.Len(t, sides, 2)
}

func TestRaisingTheWeightMovesOnlyClientsUnderIt(t *testing.T) {
	const clients = 10000
	rt := newRouter(t, strangler.Config{StickyBy: strangler.ByHeader, StickyName: "X-Client"})
	onNew := make([]bool, clients)
	prev := 0
	for weight := 5; weight <= 100; weight += 5 {
		require.NoError(t, rt.SetWeight(weight))
		moved := 0
		for i := range clients {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-Client", fmt.Sprintf("client-%d", i))
			now := rt.Route(r) == strangler.Modern
			if onNew[i] && !now {
				t.Fatalf("client-%d went back to legacy when the weight rose to %d", i, weight)
			}
			if now && !onNew[i] {
				moved++
				b := strangler.Bucket(fmt.Sprintf("client-%d", i))
				require.True(t, b >= prev && b < weight, "moved client's bucket %d outside [%d, %d)", b, prev, weight)
			}
			onNew[i] = now
		}
		assert.InDelta(t, 5.0, float64(moved)/clients*100, 1.0, "weight %d moved %d clients", weight, moved)
		prev = weight
	}
}

func TestStickyKeySources(t *testing.T) {
	findIP := func(want bool) string { // an address whose bucket is under 50 or not
		for i := range 256 {
			ip := fmt.Sprintf("10.0.0.%d", i)
			if (strangler.Bucket(ip) < 50) == want {
				return ip
			}
		}
		panic("none")
	}
	newIP, legacyIP := findIP(true), findIP(false)
	req := func(ip string, mod func(*http.Request)) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = ip + ":1234"
		if mod != nil {
			mod(r)
		}
		return r
	}
	rt := newRouter(t, strangler.Config{Weight: 50})
	assert.Equal(t, strangler.Modern, rt.Route(req(newIP, nil)))
	assert.Equal(t, strangler.Legacy, rt.Route(req(legacyIP, nil)))
	assert.Equal(t, strangler.Legacy, rt.Route(req(legacyIP, func(r *http.Request) { r.Header.Set("X-Forwarded-For", newIP) })), "an untrusted peer's X-Forwarded-For is ignored")

	rt = newRouter(t, strangler.Config{Weight: 50, StickyBy: strangler.ByCookie, StickyName: "uid"})
	withCookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "uid", Value: v}) }
	}
	assert.Equal(t, strangler.Modern, rt.Route(req(legacyIP, withCookie(newIP))), "the cookie decides")
	assert.Equal(t, strangler.Legacy, rt.Route(req(newIP, withCookie(legacyIP))))
	assert.Equal(t, strangler.Modern, rt.Route(req(newIP, nil)), "no cookie: the client IP")

	rt = newRouter(t, strangler.Config{Weight: 50, StickyBy: strangler.BySubject})
	withSubject := func(sub string) func(*http.Request) {
		return func(r *http.Request) {
			*r = *r.WithContext(jwtauth.NewContext(r.Context(), &jwtauth.Principal{Subject: sub}))
		}
	}
	assert.Equal(t, strangler.Modern, rt.Route(req(legacyIP, withSubject(newIP))), "the subject decides")
	assert.Equal(t, strangler.Legacy, rt.Route(req(newIP, withSubject(legacyIP))))
	assert.Equal(t, strangler.Legacy, rt.Route(req(legacyIP, nil)), "no token: the client IP")
}

func TestOverrides(t *testing.T) {
	rt := newRouter(t, strangler.Config{Weight: 100, Overrides: []strangler.Override{
		{Header: "x-legacy", To: strangler.Legacy},
		{Claim: "groups", Value: "old-ui", To: strangler.Legacy},
		{Claim: "tenant", Value: "acme", To: strangler.Legacy},
		{Claim: "stay", To: strangler.Legacy},
	}})
	req := func(header string, claims map[string]any) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set(header, "1")
		}
		if claims != nil {
			r = r.WithContext(jwtauth.NewContext(r.Context(), &jwtauth.Principal{Claims: claims}))
		}
		return r
	}
	assert.Equal(t, strangler.Modern, rt.Route(req("", nil)))
	assert.Equal(t, strangler.Legacy, rt.Route(req("X-Legacy", nil)))
	assert.Equal(t, strangler.Legacy, rt.Route(req("", map[string]any{"groups": []any{"a", "old-ui"}})))
	assert.Equal(t, strangler.Modern, rt.Route(req("", map[string]any{"groups": []any{"a"}})))
	assert.Equal(t, strangler.Legacy, rt.Route(req("", map[string]any{"tenant": "acme"})))
	assert.Equal(t, strangler.Modern, rt.Route(req("", map[string]any{"tenant": "globex"})))
	assert.Equal(t, strangler.Legacy, rt.Route(req("", map[string]any{"stay": true})))
	assert.Equal(t, strangler.Modern, rt.Route(req("", map[string]any{"stay": false})))

	rt = newRouter(t, strangler.Config{Overrides: []strangler.Override{
		{Header: "X-Canary", Value: "yes", To: strangler.Modern},
		{Claim: "beta", Value: "true", To: strangler.Modern},
		{Claim: "level", Value: "3", To: strangler.Modern},
	}})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Canary", "yes")
	assert.Equal(t, strangler.Modern, rt.Route(r), "weight 0, but the header sends it")
	r.Header.Set("X-Canary", "no")
	assert.Equal(t, strangler.Legacy, rt.Route(r))
	assert.Equal(t, strangler.Modern, rt.Route(req("", map[string]any{"beta": true})))
	assert.Equal(t, strangler.Modern, rt.Route(req("", map[string]any{"level": 3.0})))
	assert.Equal(t, strangler.Legacy, rt.Route(req("", map[string]any{"level": 2.0})))

	rec := httptest.NewRecorder()
	r.Header.Set("X-Canary", "yes")
	rt.ServeHTTP(rec, r)
	assert.Equal(t, "new", rec.Body.String())
}

func TestReconfigureUnderLoad(t *testing.T) {
	rt := newRouter(t, strangler.Config{Name: "orders", StickyBy: strangler.ByHeader, StickyName: "X-Client"})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var served atomic.Int64
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("X-Client", fmt.Sprintf("%d-%d", g, i%100))
				rec := httptest.NewRecorder()
				rt.ServeHTTP(rec, req)
				if b := rec.Body.String(); b != "new" && b != "legacy" {
					t.Errorf("answered %q", b)
				}
				served.Add(1)
			}
		}()
	}
	for i := 0; i < 200 || served.Load() < 2000; i++ {
		if i%2 == 0 {
			require.NoError(t, rt.SetWeight(i%101))
		} else {
			mode := strangler.Split
			if i%3 == 0 {
				mode = strangler.Shadow
			}
			require.NoError(t, rt.Reconfigure(strangler.Config{Mode: mode, Weight: 100 - i%101, StickyBy: strangler.ByHeader, StickyName: "X-Client"}))
		}
	}
	stop.Store(true)
	wg.Wait()
	assert.Positive(t, served.Load())

	require.NoError(t, rt.Reconfigure(strangler.Config{Weight: 40, Name: "other"}))
	assert.ErrorContains(t, rt.SetWeight(101), "strangler: Config.Weight must be in [0, 100], got 101")
	assert.ErrorContains(t, rt.Reconfigure(strangler.Config{Mode: "mirror"}), `strangler: Config.Mode must be "split" or "shadow", got "mirror"`)
	got := rt.Settings()
	assert.Equal(t, 40, got.Weight, "a refused change leaves the settings")
	assert.Equal(t, "orders", got.Name, "Name stays New's")
	assert.Equal(t, strangler.ByClientIP, got.StickyBy)
}

func TestZeroRouterPanics(t *testing.T) {
	assert.PanicsWithValue(t, "strangler: Router used without New", func() { (&strangler.Router{}).Stats() })
}
