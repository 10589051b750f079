package upstream

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

// endpoint is one endpoint of a pool, kept across resolver updates that
// keep its address.
type endpoint struct {
	addr        string
	meta        atomic.Pointer[map[string]string]
	breaker     *circuitbreaker.Breaker
	outstanding atomic.Int64
	healthy     atomic.Bool
	ejectedAt   atomic.Int64 // ejection's end, Unix nanoseconds; 0 when not ejected
	ejections   atomic.Int32

	// Written by the health-check rounds only, one round at a time.
	passes, failures int
}

// ejected reports whether the endpoint's breaker rejects calls now. A
// half-open breaker (its ejection over, a probe allowed) is not ejected.
func (ep *endpoint) ejected() bool {
	switch ep.breaker.State() {
	case circuitbreaker.StateOpen, circuitbreaker.StateForcedOpen:
		return true
	}
	return false
}

// EndpointState is a snapshot of one endpoint of a Pool.
type EndpointState struct {
	// Addr is the endpoint's "host:port".
	Addr string
	// Meta is what the resolver knows about the endpoint; nil when nothing.
	Meta map[string]string
	// Healthy is false while active health checks find the endpoint
	// unhealthy; always true with health checks off.
	Healthy bool
	// Ejected is true from an outlier ejection until the endpoint is
	// restored (by a successful probe or health check).
	Ejected bool
	// EjectedUntil is when the current ejection ends and a probe may go to
	// the endpoint; zero when not ejected.
	EjectedUntil time.Time
	// Ejections is the number of ejections in a row without a successful
	// probe between them; 0 when not ejected.
	Ejections int
	// Manual is true while the endpoint is ejected by Pool.Eject (until
	// Pool.Restore); EjectedUntil is then zero.
	Manual bool
	// Outstanding is the number of requests sent to the endpoint whose
	// response body has not been closed yet.
	Outstanding int
}

func (ep *endpoint) state() EndpointState {
	s := EndpointState{Addr: ep.addr, Meta: *ep.meta.Load(), Healthy: ep.healthy.Load(), Outstanding: int(ep.outstanding.Load())}
	if at := ep.ejectedAt.Load(); at != 0 {
		s.Ejected, s.EjectedUntil, s.Ejections = true, time.Unix(0, at), int(ep.ejections.Load())
	}
	if ep.manual() {
		s.Ejected, s.Manual, s.EjectedUntil = true, true, time.Time{}
	}
	return s
}

// countedBody is a response body that ends its request's count of
// outstanding requests when closed.
type countedBody struct {
	io.ReadCloser
	ep   *endpoint
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.ep.outstanding.Add(-1) })
	return b.ReadCloser.Close()
}

// countedConn is the body of a 101 Switching Protocols response, which
// httputil.ReverseProxy writes to as well as reads.
type countedConn struct {
	countedBody
}

func (c *countedConn) Write(p []byte) (int, error) {
	return c.ReadCloser.(io.Writer).Write(p)
}

// countBody wraps body so that closing it ends the count of outstanding
// requests on ep; a body that can also be written (an upgraded connection)
// stays writable.
func countBody(body io.ReadCloser, ep *endpoint) io.ReadCloser {
	if _, ok := body.(io.ReadWriteCloser); ok {
		return &countedConn{countedBody{ReadCloser: body, ep: ep}}
	}
	return &countedBody{ReadCloser: body, ep: ep}
}
