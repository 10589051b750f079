package bulwarkhttp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// server is an httptest server whose handler is told the number of each
// request (from 1), and which counts requests and connections.
type server struct {
	*httptest.Server
	requests atomic.Int32
	conns    atomic.Int32
	mu       sync.Mutex
	bodies   []string // the request bodies received, in order
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		handle(w, r, n)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *server) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// recorder is a base RoundTripper that keeps every response body it hands
// out, to check that each was drained and closed.
type recorder struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []*trackedBody
}

func newRecorder(t *testing.T) *recorder {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &recorder{base: tr}
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b := &trackedBody{ReadCloser: resp.Body}
	resp.Body = b
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) CloseIdleConnections() { r.base.(*http.Transport).CloseIdleConnections() }

// responses returns the state of each body handed out: drained to EOF,
// closed.
func (r *recorder) responses() (eof, closed []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		b.mu.Lock()
		eof, closed = append(eof, b.eof), append(closed, b.closed)
		b.mu.Unlock()
	}
	return eof, closed
}

type trackedBody struct {
	io.ReadCloser
	mu          sync.Mutex
	eof, closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.ReadCloser.Close()
}

// closeTracker is a request body that records being closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

func newClient(t *testing.T, p bulwark.Policy, cfg bulwarkhttp.TransportConfig) *http.Client {
	t.Helper()
	tr, err := bulwarkhttp.NewTransport(p, cfg)
	require.NoError(t, err)
	c := &http.Client{Transport: tr}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// retrier returns a Retrier making up to attempts attempts with no wait
// between them, unless a Retry-After says otherwise.
func retrier(t *testing.T, attempts int, opts ...func(*retry.Config)) *retry.Retrier {
	t.Helper()
	cfg := retry.DefaultConfig()
	cfg.MaxAttempts = attempts
	cfg.Backoff = retry.Constant{}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := retry.New(cfg)
	require.NoError(t, err)
	return r
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

// counting wraps a policy and counts the attempts it lets run.
func counting(p bulwark.Policy, attempts *atomic.Int32) bulwark.Policy {
	return bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return p.Do(ctx, func(ctx context.Context) error {
			attempts.Add(1)
			return op(ctx)
		})
	})
}
