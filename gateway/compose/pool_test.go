package compose_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/compose"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/retry"
)

// A part sent through a retrying bulwarkhttp.Transport over an
// upstream.Pool: each part is one call, so its retry goes to the endpoint
// its first attempt did not use, and the part succeeds although one of the
// two endpoints is down.
func TestPartsThroughAPoolWithRetries(t *testing.T) {
	up := server(t, jsonAnswer(`{"ok":true}`))
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := down.Listener.Addr().String()
	down.Close()

	r := discovery.NewStatic()
	require.NoError(t, r.Set("orders", []discovery.Endpoint{{Addr: downAddr}, {Addr: up.Listener.Addr().String()}}))
	ready := make(chan struct{}, 1)
	pool, err := upstream.New(r, "orders", upstream.Config{Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(upstream.EndpointsChanged); ok {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	})})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = pool.Close(context.Background())
	})
	<-ready

	retrier, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{Delay: time.Millisecond}})
	require.NoError(t, err)
	tr, err := bulwarkhttp.NewTransport(retrier, bulwarkhttp.TransportConfig{Base: pool})
	require.NoError(t, err)
	h, err := compose.New(map[string]http.RoundTripper{"orders": tr}, compose.Config{Parts: []compose.Part{
		{Key: "a", Upstream: "orders", Path: "/a"},
		{Key: "b", Upstream: "orders", Path: "/b"},
	}})
	require.NoError(t, err)
	for range 5 {
		rec := serve(h, "GET /", "/", nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, `{"a":{"ok":true},"b":{"ok":true}}`+"\n", rec.Body.String())
	}
}
