package bulwarkgrpc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// DefaultHold is HealthConfig.Hold when it is 0.
const DefaultHold = time.Second

// HealthSetter sets a service's serving status, as *health.Server (from
// google.golang.org/grpc/health) does.
type HealthSetter interface {
	SetServingStatus(service string, status healthpb.HealthCheckResponse_ServingStatus)
}

// HealthConfig configures a Health. Every zero field means the default its
// comment names, so HealthConfig{} is the default configuration.
type HealthConfig struct {
	// Hold is how long a shed call (a Shed event, a bulkhead's Rejected)
	// keeps the service NOT_SERVING after the last one. 0 means
	// DefaultHold (1s); otherwise in [1ms, 1h].
	Hold time.Duration

	// Clock reads the time for Hold; nil means clock.System.
	Clock clock.Clock

	// Name identifies the Health in its events. Optional.
	Name string

	// Observer receives a HealthChanged event each time the Health sets
	// the serving status. Nil observes nothing.
	Observer bulwark.Observer
}

// DefaultHealthConfig returns the defaults that HealthConfig{} stands for,
// spelled out: a 1s hold, the system clock.
func DefaultHealthConfig() HealthConfig {
	return HealthConfig{Hold: DefaultHold, Clock: clock.System}
}

// Health drives a gRPC health service's status from bulwark's events: it
// is a bulwark.Observer to give, as Config.Observer, to the breakers,
// bulkheads and Shedders whose state the service's health depends on.
//
// The service is NOT_SERVING while any breaker observed is open, forced
// open or half-open (circuitbreaker.StateChange), and for Hold after each
// shed call (a Shed of this package, a bulkhead.Rejected); SERVING
// otherwise. Observe sets NOT_SERVING at once and SERVING when a breaker
// closes and no hold is running; Run sets SERVING when a hold ends, so run
// it (a bulwark.Service) when shedding is observed. Every change is set
// once (the setter is called only when the status changes) and reported as
// HealthChanged. Health is safe for concurrent use.
type Health struct {
	server  HealthSetter
	service string
	cfg     HealthConfig
	life    *lifecycle.State
	wake    chan struct{} // a hold started or moved

	mu        sync.Mutex
	open      map[string]bool // breakers not closed, by name and key
	holdUntil time.Time       // shed calls keep NOT_SERVING until then
	serving   bool
	set       bool // the status was set at least once
}

// NewHealth returns a Health that sets service's status on server, or an
// error when server is nil or a setting of cfg is invalid. It sets nothing
// until it observes an event or runs.
func NewHealth(server HealthSetter, service string, cfg HealthConfig) (*Health, error) {
	if server == nil {
		return nil, errors.New("bulwarkgrpc: NewHealth needs a health server, got nil")
	}
	if cfg.Hold != 0 && (cfg.Hold < time.Millisecond || cfg.Hold > time.Hour) {
		return nil, fmt.Errorf("bulwarkgrpc: HealthConfig.Hold must be 0 (meaning %v) or in [1ms, 1h], got %v", DefaultHold, cfg.Hold)
	}
	cfg.Hold = cmp.Or(cfg.Hold, DefaultHold)
	cfg.Clock = clock.OrSystem(cfg.Clock)
	return &Health{server: server, service: service, cfg: cfg, life: lifecycle.New(), wake: make(chan struct{}, 1), open: map[string]bool{}}, nil
}

func (h *Health) check() {
	if h == nil || h.server == nil {
		panic("bulwarkgrpc: Health used without NewHealth")
	}
}

// Serving reports the status the Health last set (true before any).
func (h *Health) Serving() bool {
	h.check()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.serving || !h.set
}

// Observe takes the events that move the status and ignores the others.
func (h *Health) Observe(ctx context.Context, e bulwark.Event) {
	h.check()
	switch e := e.(type) {
	case circuitbreaker.StateChange:
		cause := e.Name
		if e.Key != nil {
			cause = fmt.Sprintf("%s[%v]", e.Name, e.Key)
		}
		h.mu.Lock()
		if e.To == circuitbreaker.StateClosed || e.To == circuitbreaker.StateDisabled {
			delete(h.open, cause)
		} else {
			h.open[cause] = true
		}
		h.mu.Unlock()
		h.update(ctx, cause)
	case Shed, bulkhead.Rejected:
		h.mu.Lock()
		h.holdUntil = h.cfg.Clock.Now().Add(h.cfg.Hold)
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
		h.update(ctx, e.Component())
	}
}

// update sets the status the state calls for, if it changed.
func (h *Health) update(ctx context.Context, cause string) {
	h.mu.Lock()
	serving := len(h.open) == 0 && !h.cfg.Clock.Now().Before(h.holdUntil)
	if h.set && serving == h.serving {
		h.mu.Unlock()
		return
	}
	h.set, h.serving = true, serving
	// Set under the lock, so that two changes reach the server in order.
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	h.server.SetServingStatus(h.service, st)
	h.mu.Unlock()
	if h.cfg.Observer != nil {
		h.cfg.Observer.Observe(ctx, HealthChanged{Name: h.cfg.Name, Service: h.service, Serving: serving, Cause: cause})
	}
}

// Run sets the status (SERVING unless an event says otherwise), then sets
// SERVING again each time a hold ends with no breaker open, until ctx is
// done (returning its error, wrapped) or Close (returning nil).
func (h *Health) Run(ctx context.Context) error {
	h.check()
	work, err := h.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer h.life.End()
	h.update(work, "")
	for {
		h.mu.Lock()
		wait := h.holdUntil.Sub(h.cfg.Clock.Now())
		h.mu.Unlock()
		var timer clock.Timer
		var fired <-chan time.Time
		if wait > 0 {
			timer = h.cfg.Clock.NewTimer(wait)
			fired = timer.C()
		}
		select {
		case <-fired:
			h.update(work, "hold")
		case <-h.wake:
		case <-h.life.Stop:
			stopTimer(timer)
			return nil
		case <-work.Done():
			stopTimer(timer)
			if ctx.Err() != nil {
				return fmt.Errorf("bulwarkgrpc: Health.Run: %w", ctx.Err())
			}
			return nil
		}
		stopTimer(timer)
	}
}

func stopTimer(t clock.Timer) {
	if t != nil {
		t.Stop()
	}
}

// Close stops Run and waits, within ctx, for it to return.
func (h *Health) Close(ctx context.Context) error {
	h.check()
	return h.life.Close(ctx, "bulwarkgrpc: Health")
}
