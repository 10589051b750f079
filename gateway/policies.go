package gateway

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// routePolicy builds a route's policy chain, outermost first: the Go policy
// named by Route.Policy, rate limit, bulkhead, timeout, breaker, retry. Each
// policy is named after the route, so its events (and otelbulwark's metrics)
// are per route. path names the route in errors.
func (g *Gateway) routePolicy(path string, r Route) (bulwark.Policy, error) {
	var chain []bulwark.Policy
	name, obs, clk := r.routeName(), g.cfg.Observer, g.cfg.Clock
	if r.Policy != "" {
		p, ok := g.cfg.Policies[r.Policy]
		if !ok {
			return nil, fmt.Errorf("gateway: %s.policy: no policy %q in Config.Policies", path, r.Policy)
		}
		chain = append(chain, p)
	}
	ps := r.Policies
	if l := ps.RateLimit; l != nil {
		p, err := ratelimit.New(ratelimit.Config{Name: name, Observer: obs, Clock: clk, Limit: l.Limit, Period: time.Duration(l.Period), Burst: l.Burst})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s.policies.rate_limit: %w", path, err)
		}
		chain = append(chain, p)
	}
	if b := ps.Bulkhead; b != nil {
		p, err := bulkhead.New(bulkhead.Config{Name: name, Observer: obs, Clock: clk, MaxConcurrent: b.MaxConcurrent, MaxWaiting: b.MaxWaiting, MaxWait: time.Duration(b.MaxWait)})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s.policies.bulkhead: %w", path, err)
		}
		chain = append(chain, p)
	}
	if r.Timeout > 0 {
		p, err := timeout.New(timeout.Config{Name: name, Observer: obs, Clock: clk, Logger: g.cfg.Logger, Timeout: time.Duration(r.Timeout)})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s.timeout: %w", path, err)
		}
		chain = append(chain, p)
	}
	if b := ps.Breaker; b != nil {
		p, err := circuitbreaker.New(circuitbreaker.Config{
			Name: name, Observer: obs, Clock: clk,
			Window:               circuitbreaker.LastCalls(cmpOr(b.Window, 100)),
			FailureRateThreshold: b.FailureRate,
			MinimumCalls:         b.MinimumCalls,
			ConsecutiveFailures:  b.ConsecutiveFailures,
			OpenWait:             time.Duration(b.OpenWait),
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s.policies.breaker: %w", path, err)
		}
		chain = append(chain, p)
	}
	if rt := ps.Retry; rt != nil {
		p, err := retry.New(retry.Config{
			Name: name, Observer: obs, Clock: clk,
			MaxAttempts:    rt.MaxAttempts,
			Backoff:        retry.Exponential{Initial: cmpOr(time.Duration(rt.Backoff), 100*time.Millisecond)},
			MaxDelay:       cmpOr(time.Duration(rt.MaxDelay), 2*time.Second),
			AttemptTimeout: time.Duration(rt.AttemptTimeout),
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s.policies.retry: %w", path, err)
		}
		chain = append(chain, p)
	}
	return bulwark.Chain(chain...), nil
}
