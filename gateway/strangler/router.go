package strangler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// Router sends each request to the legacy or the new side; see the package
// doc for its guarantees. It is safe for concurrent use.
type Router struct {
	legacy, modern http.Handler
	name           string
	observer       observer
	settings       atomic.Pointer[settings]

	inFlight atomic.Int64
	stats    counters

	mu      sync.Mutex // guards closed and the adding to shadows
	closed  bool
	shadows sync.WaitGroup
	base    context.Context // cancelled when Close gives up waiting: ends the copies in flight
	cancel  context.CancelFunc
}

// New returns a Router in front of legacy and modern (the new side). It
// checks cfg and returns an error naming the first invalid field.
func New(legacy, modern http.Handler, cfg Config) (*Router, error) {
	switch {
	case legacy == nil:
		return nil, errors.New("strangler: New needs a legacy handler, got nil")
	case modern == nil:
		return nil, errors.New("strangler: New needs a new-side handler (modern), got nil")
	}
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	rt := &Router{legacy: legacy, modern: modern, name: cfg.Name, observer: observer{cfg.Observer}}
	rt.base, rt.cancel = context.WithCancel(context.Background())
	rt.settings.Store(s)
	return rt, nil
}

func (rt *Router) check() {
	if rt == nil || rt.legacy == nil {
		panic("strangler: Router used without New")
	}
}

// ServeHTTP serves r from the side Route names; in Shadow mode it then
// sends a copy of a safe request to the new side in the background.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.check()
	s := rt.settings.Load()
	side := s.route(r)
	switch {
	case side == Modern:
		if _, forged := r.Header[HeaderShadow]; forged {
			r = r.Clone(r.Context())
			r.Header.Del(HeaderShadow)
		}
		rt.modern.ServeHTTP(w, r)
	case s.cfg.Mode == Shadow && safe(r):
		rt.serveShadowed(s, w, r)
	default:
		rt.legacy.ServeHTTP(w, r)
	}
}

// safe reports whether r may be sent twice: a GET or HEAD without a body,
// and not a protocol upgrade (a WebSocket handshake is a GET).
func safe(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.ContentLength == 0 && len(r.TransferEncoding) == 0 && r.Header.Get("Upgrade") == ""
}

// HeaderShadow is set to "1" on the copies Shadow mode sends to the new
// side, so that it can tell them from real traffic (and, say, leave them
// out of its own analytics). A client's own HeaderShadow is removed from
// the requests the new side serves for real.
const HeaderShadow = "X-Bulwark-Shadow"

// SetWeight sets the weight alone, as Reconfigure does; it refuses a weight
// outside [0, 100].
func (rt *Router) SetWeight(weight int) error {
	rt.check()
	rt.mu.Lock() // serialises with Reconfigure, so neither undoes the other
	defer rt.mu.Unlock()
	cfg := rt.settings.Load().cfg
	cfg.Weight = weight
	return rt.store(cfg)
}

// Reconfigure replaces the settings with cfg's, checked as New checks
// them; an invalid cfg is refused with the settings left as they were. The
// requests that start after it use the new settings, a request in flight
// keeps those it started with. cfg's Name and Observer are not read: New's
// stay.
func (rt *Router) Reconfigure(cfg Config) error {
	rt.check()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.store(cfg)
}

func (rt *Router) store(cfg Config) error {
	cfg.Name, cfg.Observer = rt.name, rt.observer.o
	s, err := cfg.check()
	if err != nil {
		return err
	}
	rt.settings.Store(s)
	return nil
}

// Settings returns the Config in force, defaults filled in. The caller
// may change the returned Config; the Router's stays as it is.
func (rt *Router) Settings() Config {
	rt.check()
	c := rt.settings.Load().cfg
	c.Overrides = slices.Clone(c.Overrides)
	c.Shadow.IgnoreFields = slices.Clone(c.Shadow.IgnoreFields)
	return c
}

// Close stops sending copies to the new side and waits, within ctx, for
// the copies in flight to end (each is bounded by Shadow.Timeout). If ctx
// ends first, Close cancels the copies still in flight and returns ctx's
// error; a later Close waits for them again. Requests are still served
// after Close, without copies.
func (rt *Router) Close(ctx context.Context) error {
	rt.check()
	rt.mu.Lock()
	rt.closed = true
	rt.mu.Unlock()
	done := make(chan struct{})
	go func() {
		rt.shadows.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		rt.cancel()
		return fmt.Errorf("strangler: Close: %w", ctx.Err())
	}
}
