package strangler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/strangler"
)

// The Router as a server's handler, with both sides real HTTP services
// reached through FromTransport: shadowing, then a split.
func TestOverHTTP(t *testing.T) {
	legacySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"side":"any","path":%q}`, r.URL.Path)
	}))
	defer legacySrv.Close()
	newSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-New", "1")
		fmt.Fprintf(w, `{"path":%q,"side":"any"}`, r.URL.Path)
	}))
	defer newSrv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	legacy, err := strangler.FromTransport(tr, legacySrv.URL)
	require.NoError(t, err)
	modern, err := strangler.FromTransport(tr, newSrv.URL)
	require.NoError(t, err)
	rt, err := strangler.New(legacy, modern, strangler.Config{Mode: strangler.Shadow, StickyBy: strangler.ByHeader, StickyName: "X-User"})
	require.NoError(t, err)
	front := httptest.NewServer(rt)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	call := func(user string) (string, bool) {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/orders/9", nil)
		req.Header.Set("X-User", user)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body), resp.Header.Get("X-New") == "1"
	}
	for i := range 20 {
		_, fromNew := call(fmt.Sprint("u", i))
		assert.False(t, fromNew, "shadow mode answers from legacy")
	}
	require.NoError(t, rt.Close(context.Background()))
	assert.Equal(t, strangler.Stats{Shadowed: 20, Matched: 20}, rt.Stats())

	require.NoError(t, rt.Reconfigure(strangler.Config{Weight: 50, StickyBy: strangler.ByHeader, StickyName: "X-User"}))
	for i := range 20 {
		user := fmt.Sprint("u", i)
		body, fromNew := call(user)
		assert.Equal(t, strangler.Bucket(user) < 50, fromNew, user)
		assert.Contains(t, body, `"path":"/orders/9"`)
	}
}
