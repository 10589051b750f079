// Package consolegateway shows a gateway in the operations console: the
// console serves a gateway's Component over its JSON API, and its actions
// reach the gateway's pools. The two modules do not import each other;
// this test is where they meet.
package consolegateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/gateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "operator-token-0123456789"

func TestConsoleServesTheGatewayComponent(t *testing.T) {
	backend := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, name) }))
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
	a, b := backend("a"), backend("b")
	doc, err := gateway.Parse([]byte(`{"upstreams": {"app": {"endpoints": ["` + a + `", "` + b + `"]}},
		"routes": [{"name": "api", "match": "/api/", "upstream": "app", "policies": {"retry": {}}}]}`))
	require.NoError(t, err)
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- g.Run(ctx) }()
	gw := httptest.NewServer(g)
	c, err := console.New(console.Config{
		Components: map[string]console.Component{"edge": g.Component()},
		Tokens:     map[string]string{"alice": token},
		AuditLog:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ops := httptest.NewServer(c)
	t.Cleanup(func() {
		ops.Close()
		require.NoError(t, c.Close(context.Background()))
		gw.Close()
		require.NoError(t, g.Close(context.Background()))
		require.NoError(t, <-ran)
		cancel()
	})
	body := func(url string) string {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	require.Eventually(t, func() bool { s := body(gw.URL + "/api/x"); return s == "a" || s == "b" }, 5*time.Second, 10*time.Millisecond)

	endpoints := func() map[string]gateway.EndpointSnapshot {
		var st console.State
		require.NoError(t, json.Unmarshal([]byte(body(ops.URL+"/api/state")), &st))
		require.Len(t, st.Components, 1)
		require.Equal(t, "edge", st.Components[0].Name)
		require.Equal(t, []string{"eject", "restore"}, st.Components[0].Actions)
		var snap gateway.ComponentSnapshot
		require.NoError(t, json.Unmarshal(st.Components[0].Snapshot, &snap))
		require.Equal(t, []gateway.RouteSnapshot{{Name: "api", Pattern: "/api/", Upstream: "app", Policies: []string{"retry"}}}, snap.Routes)
		out := map[string]gateway.EndpointSnapshot{}
		for _, ep := range snap.Upstreams[0].Endpoints {
			out[ep.Addr] = ep
		}
		return out
	}
	require.Len(t, endpoints(), 2)
	require.False(t, endpoints()[a].Ejected)

	act := func(action, target string) int {
		resp, err := http.Get(ops.URL + "/api/session")
		require.NoError(t, err)
		var sess struct {
			CSRF string `json:"csrf"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&sess))
		resp.Body.Close()
		req, err := http.NewRequest(http.MethodPost, ops.URL+"/api/components/edge/"+action, strings.NewReader(`{"target": "`+target+`"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-CSRF-Token", sess.CSRF)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for _, ck := range resp.Cookies() {
			req.AddCookie(ck)
		}
		r, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r.Body.Close()
		return r.StatusCode
	}
	require.Equal(t, http.StatusOK, act("eject", "app/"+a))
	require.True(t, endpoints()[a].Ejected)
	require.True(t, endpoints()[a].Manual)
	for range 6 {
		require.Equal(t, "b", body(gw.URL+"/api/x"), "the console's ejection reaches the pool")
	}
	require.Equal(t, http.StatusOK, act("restore", "app/"+a))
	require.False(t, endpoints()[a].Ejected)
	require.NotEqual(t, http.StatusOK, act("eject", "app/192.0.2.1:1"), "an unknown endpoint is refused")
}
