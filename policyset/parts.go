package policyset

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// Parts are the policies of one name's chain; a nil field is not in it.
// They are the live policies: a console may read their state (a breaker's
// Metrics) and act on them (ForceOpen).
type Parts struct {
	Retry          *retry.Retrier
	CircuitBreaker *circuitbreaker.Breaker
	RateLimit      *ratelimit.Limiter
	Bulkhead       *bulkhead.Bulkhead
	Hedge          *hedge.Hedger
	Timeout        *timeout.Timeout
	Chaos          *chaos.Injector

	chain bulwark.Policy
}

// Functions are what a document cannot say: the classifiers of one name's
// parts, given in code. Each nil field is its package's default.
type Functions struct {
	RetryIf    func(error) bool // retry.Config.RetryIf
	Budget     *retry.Budget    // retry.Config.Budget
	IsFailure  func(error) bool // circuitbreaker.Config.IsFailure
	IsIgnored  func(error) bool // circuitbreaker.Config.IsIgnored
	Overloaded func(error) bool // bulkhead.Config.Overloaded
}

// configs are the Configs one Spec stands for, with the collaborators set.
type configs struct {
	retry    *retry.Config
	breaker  *circuitbreaker.Config
	limit    *ratelimit.Config
	bulkhead *bulkhead.Config
	hedge    *hedge.Config
	timeout  *timeout.Config
	chaos    *chaos.Config
}

// configsOf turns spec into Configs for the policy called name, checking
// what the Configs cannot (the names of types and algorithms).
func (s *Set) configsOf(name string, spec Spec) (configs, error) {
	var c configs
	fn := s.cfg.Functions[name]
	obs, clk := s.cfg.Observer, s.cfg.Clock
	if r := spec.Retry; r != nil {
		bo, err := backoffOf(r.Backoff)
		if err != nil {
			return c, fmt.Errorf("retry.backoff: %w", err)
		}
		c.retry = &retry.Config{Name: name, Observer: obs, Clock: clk, MaxAttempts: r.MaxAttempts,
			MaxElapsedTime: time.Duration(r.MaxElapsedTime), Backoff: bo, MaxDelay: time.Duration(r.MaxDelay),
			AttemptTimeout: time.Duration(r.AttemptTimeout), RetryRejected: r.RetryRejected, RetryIf: fn.RetryIf, Budget: fn.Budget}
	}
	if b := spec.CircuitBreaker; b != nil {
		cfg := circuitbreaker.Config{Name: name, Observer: obs, Clock: clk, IsFailure: fn.IsFailure, IsIgnored: fn.IsIgnored,
			FailureRateThreshold: b.FailureRateThreshold, MinimumCalls: b.MinimumCalls, ConsecutiveFailures: b.ConsecutiveFailures,
			SlowCallDuration: time.Duration(b.SlowCallDuration), SlowCallRateThreshold: b.SlowCallRateThreshold,
			OpenWait: time.Duration(b.OpenWait), OpenWaitMultiplier: b.OpenWaitMultiplier, MaxOpenWait: time.Duration(b.MaxOpenWait),
			OpenWaitJitter: b.OpenWaitJitter, HalfOpenCalls: b.HalfOpenCalls, HalfOpenSuccesses: b.HalfOpenSuccesses,
			MaxHalfOpenWait: time.Duration(b.MaxHalfOpenWait), DryRun: b.DryRun}
		switch {
		case b.WindowDuration != 0:
			if b.WindowCalls != 0 {
				return c, errors.New("circuit_breaker: window_calls and window_duration exclude each other")
			}
			cfg.Window = circuitbreaker.LastDuration(time.Duration(b.WindowDuration), b.WindowBuckets)
		case b.WindowBuckets != 0:
			return c, errors.New("circuit_breaker.window_buckets: needs window_duration")
		case b.WindowCalls != 0:
			cfg.Window = circuitbreaker.LastCalls(b.WindowCalls)
		}
		c.breaker = &cfg
	}
	if l := spec.RateLimit; l != nil {
		cfg := ratelimit.Config{Name: name, Observer: obs, Clock: clk, Limit: l.Limit, Period: time.Duration(l.Period),
			Burst: l.Burst, MaxWait: time.Duration(l.MaxWait)}
		switch l.Algorithm {
		case "", "token_bucket":
		case "sliding_window":
			cfg.Algorithm = ratelimit.SlidingWindow
		default:
			return c, fmt.Errorf("rate_limit.algorithm: must be \"token_bucket\" or \"sliding_window\", got %q", l.Algorithm)
		}
		c.limit = &cfg
	}
	if b := spec.Bulkhead; b != nil {
		cfg := bulkhead.Config{Name: name, Observer: obs, Clock: clk, Overloaded: fn.Overloaded,
			MaxConcurrent: b.MaxConcurrent, MaxWaiting: b.MaxWaiting, MaxWait: time.Duration(b.MaxWait)}
		switch b.Adaptive {
		case "":
		case "aimd":
			cfg.Adaptive = bulkhead.AIMD{}
		case "gradient":
			cfg.Adaptive = bulkhead.Gradient{}
		default:
			return c, fmt.Errorf("bulkhead.adaptive: must be \"\", \"aimd\" or \"gradient\", got %q", b.Adaptive)
		}
		c.bulkhead = &cfg
	}
	if h := spec.Hedge; h != nil {
		c.hedge = &hedge.Config{Name: name, Observer: obs, Clock: clk, Delay: time.Duration(h.Delay), MaxHedges: h.MaxHedges,
			Percentile: h.Percentile, Window: h.Window, AllIdempotent: h.AllIdempotent}
	}
	if t := spec.Timeout; t != nil {
		c.timeout = &timeout.Config{Name: name, Observer: obs, Clock: clk, Logger: s.cfg.Logger, Timeout: time.Duration(t.Timeout), Detach: t.Detach}
	}
	if ch := spec.Chaos; ch != nil {
		c.chaos = &chaos.Config{Name: name, Observer: obs, Clock: clk, Disabled: ch.Disabled,
			Faults: chaos.Faults{ErrorRate: ch.ErrorRate, PanicRate: ch.PanicRate, LatencyRate: ch.LatencyRate, Latency: time.Duration(ch.Latency)}}
	}
	return c, nil
}

func backoffOf(b *BackoffSpec) (retry.Backoff, error) {
	if b == nil {
		return nil, nil
	}
	switch b.Type {
	case "", "exponential":
		e := retry.Exponential{Initial: time.Duration(b.Initial), Multiplier: b.Multiplier}
		switch b.Jitter {
		case "", "full":
		case "equal":
			e.Jitter = retry.EqualJitter
		case "none":
			e.Jitter = retry.NoJitter
		default:
			return nil, fmt.Errorf("jitter: must be \"full\", \"equal\" or \"none\", got %q", b.Jitter)
		}
		return e, nil
	case "constant":
		return retry.Constant{Delay: time.Duration(b.Delay)}, nil
	case "decorrelated":
		return retry.Decorrelated{Base: time.Duration(b.Base)}, nil
	}
	return nil, fmt.Errorf("type: must be \"exponential\", \"constant\" or \"decorrelated\", got %q", b.Type)
}

// build makes fresh parts from c: the check that every setting is valid,
// and the parts used where there is no old one to reconfigure.
func build(c configs) (*Parts, error) {
	p := &Parts{}
	var err error
	if c.retry != nil {
		if p.Retry, err = retry.New(*c.retry); err != nil {
			return nil, fmt.Errorf("retry: %w", err)
		}
	}
	if c.breaker != nil {
		if p.CircuitBreaker, err = circuitbreaker.New(*c.breaker); err != nil {
			return nil, fmt.Errorf("circuit_breaker: %w", err)
		}
	}
	if c.limit != nil {
		if p.RateLimit, err = ratelimit.New(*c.limit); err != nil {
			return nil, fmt.Errorf("rate_limit: %w", err)
		}
	}
	if c.bulkhead != nil {
		if p.Bulkhead, err = bulkhead.New(*c.bulkhead); err != nil {
			return nil, fmt.Errorf("bulkhead: %w", err)
		}
	}
	if c.hedge != nil {
		if p.Hedge, err = hedge.New(*c.hedge); err != nil {
			return nil, fmt.Errorf("hedge: %w", err)
		}
	}
	if c.timeout != nil {
		if p.Timeout, err = timeout.New(*c.timeout); err != nil {
			return nil, fmt.Errorf("timeout: %w", err)
		}
	}
	if c.chaos != nil {
		if p.Chaos, err = chaos.New(*c.chaos); err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
	}
	return p, nil
}

// carry returns the parts of a new version: for each part in both, the old
// one reconfigured with c (its state kept), or the fresh one where the old
// refuses a setting it fixed at New.
func carry(old, fresh *Parts, c configs) *Parts {
	p := *fresh
	if old.Retry != nil && c.retry != nil && old.Retry.Reconfigure(*c.retry) == nil {
		p.Retry = old.Retry
	}
	if old.CircuitBreaker != nil && c.breaker != nil && old.CircuitBreaker.Reconfigure(*c.breaker) == nil {
		p.CircuitBreaker = old.CircuitBreaker
	}
	if old.RateLimit != nil && c.limit != nil && old.RateLimit.Reconfigure(*c.limit) == nil {
		p.RateLimit = old.RateLimit
	}
	if old.Bulkhead != nil && c.bulkhead != nil && old.Bulkhead.Reconfigure(*c.bulkhead) == nil {
		p.Bulkhead = old.Bulkhead
	}
	if old.Hedge != nil && c.hedge != nil && old.Hedge.Reconfigure(*c.hedge) == nil {
		p.Hedge = old.Hedge
	}
	if old.Timeout != nil && c.timeout != nil && old.Timeout.Reconfigure(*c.timeout) == nil {
		p.Timeout = old.Timeout
	}
	if old.Chaos != nil && c.chaos != nil && old.Chaos.Reconfigure(*c.chaos) == nil {
		p.Chaos = old.Chaos
	}
	return &p
}

// link builds the chain of p's parts, outermost first.
func (p *Parts) link() {
	var chain []bulwark.Policy
	if p.Retry != nil {
		chain = append(chain, p.Retry)
	}
	if p.CircuitBreaker != nil {
		chain = append(chain, p.CircuitBreaker)
	}
	if p.RateLimit != nil {
		chain = append(chain, p.RateLimit)
	}
	if p.Bulkhead != nil {
		chain = append(chain, p.Bulkhead)
	}
	if p.Hedge != nil {
		chain = append(chain, p.Hedge)
	}
	if p.Timeout != nil {
		chain = append(chain, p.Timeout)
	}
	if p.Chaos != nil {
		chain = append(chain, p.Chaos)
	}
	p.chain = bulwark.Chain(chain...)
}
