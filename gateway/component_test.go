package gateway_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway"
	pool "github.com/bulwark-go/bulwark/gateway/upstream"
)

// TestComponentShowsRoutesAndEndpointsAndEjects: the snapshot lists the
// routes with their stages and every endpoint; "eject" takes an endpoint
// out until "restore".
func TestComponentShowsRoutesAndEndpointsAndEjects(t *testing.T) {
	a, b := upstream(t, echo("a")), upstream(t, echo("b"))
	g, srv := start(t, doc(t, `
upstreams:
  app: {endpoints: ["{a}", "{b}"]}
routes:
  - name: api
    match: /api/
    upstream: app
    timeout: 1s
    policies: {retry: {}, breaker: {}, bulkhead: {max_concurrent: 5}}
`, "{a}", a, "{b}", b), testConfig(), "/api/x")
	c := g.Component()
	ctx := context.Background()
	assert.Equal(t, []string{"eject", "restore"}, c.Actions())
	snap := func() gateway.ComponentSnapshot {
		raw, err := c.Snapshot(ctx)
		require.NoError(t, err)
		var s gateway.ComponentSnapshot
		require.NoError(t, json.Unmarshal(raw, &s))
		return s
	}
	s := snap()
	assert.Equal(t, "gateway", s.Name)
	require.Len(t, s.Routes, 1)
	assert.Equal(t, gateway.RouteSnapshot{Name: "api", Pattern: "/api/", Upstream: "app", Policies: []string{"bulkhead", "timeout", "breaker", "retry"}}, s.Routes[0])
	require.Len(t, s.Upstreams, 1)
	require.Len(t, s.Upstreams[0].Endpoints, 2)
	for _, ep := range s.Upstreams[0].Endpoints {
		assert.True(t, ep.Healthy)
		assert.False(t, ep.Ejected)
	}

	require.NoError(t, c.Act(ctx, "eject", "app/"+a))
	for range 6 {
		_, _, h := get(t, srv.URL+"/api/x")
		assert.Equal(t, "b", h.Get("X-Upstream"), "no request goes to the ejected endpoint")
	}
	for _, ep := range snap().Upstreams[0].Endpoints {
		assert.Equal(t, ep.Addr == a, ep.Ejected && ep.Manual, ep.Addr)
	}
	require.NoError(t, c.Act(ctx, "restore", "app/"+a))
	for _, ep := range snap().Upstreams[0].Endpoints {
		assert.False(t, ep.Ejected, ep.Addr)
	}
	seen := map[string]bool{}
	for range 6 {
		_, _, h := get(t, srv.URL+"/api/x")
		seen[h.Get("X-Upstream")] = true
	}
	assert.True(t, seen["a"], "the restored endpoint serves again")

	assert.ErrorIs(t, c.Act(ctx, "eject", "app/192.0.2.1:1"), pool.ErrUnknownEndpoint)
	assert.ErrorContains(t, c.Act(ctx, "eject", "nowhere/"+a), `no upstream "nowhere"`)
	assert.ErrorContains(t, c.Act(ctx, "eject", a), "upstream/host:port")
	assert.ErrorContains(t, c.Act(ctx, "drain", "app/"+a), "the actions are")
}
