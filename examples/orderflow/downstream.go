package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// downstream is the order processor's client of one service. Every request
// goes through a bulwarkhttp.Transport whose policy is the chain
//
//	retry → circuit breaker → bulkhead → (hedge →) timeout
//
// outermost first, and each layer sits where it does for a reason:
//
//   - retry is outermost, so each attempt passes the breaker and is counted
//     by it, and an open breaker stops the retries. It retries blips (a
//     5xx, a timed-out attempt, a 409 while the service still works on the
//     same key) a few times, quickly, under a retry budget
//     shared by every caller of the service, so retries cannot multiply
//     the load on a service in trouble. It does not retry the breaker's or
//     the bulkhead's refusals: those are answers, and waiting them out is
//     the saga step's job.
//   - the breaker sees every attempt and opens when half of the last ones
//     failed, or five in a row, so that calls fail at once, with the time
//     to come back (Retry-After), instead of each waiting for its timeout.
//   - the bulkhead bounds the requests in flight to the service, so that a
//     slow service holds a few of the processor's goroutines and
//     connections, not all of them.
//   - the timeout bounds each attempt, innermost, so that a slow attempt
//     fails (and is retried) rather than one slow answer eating the whole
//     retry schedule.
//   - for the notification service, a hedge before the timeout sends a
//     second request when the first has not answered after a short delay;
//     the first success wins and the other request is cancelled.
type downstream struct {
	name string
	url  string
	http *http.Client
}

// downstreamConfig is what differs between the processor's downstreams.
type downstreamConfig struct {
	index          int // into counters.stepRetry and counters.rejected
	url            string
	attemptTimeout time.Duration
	hedgeAfter     time.Duration // 0: no hedging
	openWait       time.Duration // the breaker's first open wait; it doubles while the service stays down
}

func newDownstream(cfg downstreamConfig, story *story, count *counters) (*downstream, error) {
	name := downstreamNames[cfg.index]
	d := &downstream{name: name, url: cfg.url}

	budget, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		return nil, err
	}
	// RetryRejected is left off: a refusal by the breaker or the bulkhead
	// (bulwark.ErrRejected) ends the retries at once.
	retrier, err := retry.New(retry.Config{
		Name:        name,
		MaxAttempts: 3,
		Backoff:     retry.Exponential{Initial: 50 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:    time.Second, // a 409's Retry-After (the rest of the first attempt's lease) is cut to a second
		Budget:      budget,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(retry.Retried); ok {
				count.stepRetry[cfg.index].Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}

	var told atomic.Bool // the first refusal of this open spell was told
	breaker, err := circuitbreaker.New(circuitbreaker.Config{
		Name:                 name,
		Window:               circuitbreaker.LastCalls(20),
		MinimumCalls:         10,
		FailureRateThreshold: 50,
		ConsecutiveFailures:  5,
		OpenWait:             cfg.openWait,
		OpenWaitMultiplier:   2,
		MaxOpenWait:          3 * cfg.openWait,
		HalfOpenCalls:        probes,
		HalfOpenSuccesses:    2,
		MaxHalfOpenWait:      5 * time.Second,
		// Neither of these says the service is failing: a 409 says it is
		// alive and still busy with an earlier attempt under the same key,
		// and a full bulkhead is the processor's own queue.
		IsIgnored: func(err error) bool {
			var se *bulwarkhttp.StatusError
			return (errors.As(err, &se) && se.StatusCode == http.StatusConflict) || errors.Is(err, bulkhead.ErrFull)
		},
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e := e.(type) {
			case circuitbreaker.StateChange:
				if e.To == circuitbreaker.StateOpen {
					count.opened[cfg.index].Add(1)
					told.Store(false)
				}
				story.say("%s", describeChange(name, e))
			case circuitbreaker.Rejected:
				count.rejected[cfg.index].Add(1)
				if told.CompareAndSwap(false, true) {
					story.say("processor: the %s breaker refuses a call at once, with Retry-After %v: the saga step waits that long, then tries again",
						name, e.Err.RetryAfter().Round(10*time.Millisecond))
				}
			}
		}),
	})
	if err != nil {
		return nil, err
	}

	limit, err := bulkhead.New(bulkhead.Config{
		Name:          name,
		MaxConcurrent: 8,
		MaxWaiting:    64,
		MaxWait:       2 * time.Second,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(bulkhead.Rejected); ok {
				count.rejected[cfg.index].Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	perAttempt, err := timeout.New(timeout.Config{Timeout: cfg.attemptTimeout})
	if err != nil {
		return nil, err
	}
	policies := []bulwark.Policy{retrier, breaker, limit}
	if cfg.hedgeAfter > 0 {
		var told atomic.Bool
		hedger, err := hedge.New(hedge.Config{
			Name:  name,
			Delay: cfg.hedgeAfter,
			// A fixed delay: the slow spells would drag a percentile up
			// with them.
			Percentile: hedge.NoPercentile,
			MaxHedges:  1,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				h, ok := e.(hedge.Hedged)
				if !ok {
					return
				}
				count.hedged.Add(1)
				if told.CompareAndSwap(false, true) {
					story.say("processor: a request to %s had no answer after %v: a hedged second request goes out, and the first success wins (the summaries count the rest)", name, h.Delay)
				}
			}),
		})
		if err != nil {
			return nil, err
		}
		policies = append(policies, hedger)
	}
	policies = append(policies, perAttempt)

	t, err := bulwarkhttp.NewTransport(bulwark.Chain(policies...), bulwarkhttp.TransportConfig{
		Base: &http.Transport{MaxIdleConnsPerHost: 16},
		// 409 (another attempt with the key is running) is worth retrying
		// after its Retry-After, like a 5xx or a 429.
		IsFailure: func(r *http.Response) bool {
			return bulwarkhttp.DefaultIsFailure(r) || r.StatusCode == http.StatusConflict
		},
	})
	if err != nil {
		return nil, err
	}
	d.http = &http.Client{Transport: t}
	return d, nil
}

// probes is how many calls a half-open breaker lets through.
const probes = 3

func describeChange(name string, c circuitbreaker.StateChange) string {
	m := c.Metrics
	switch {
	case c.From == circuitbreaker.StateClosed && c.To == circuitbreaker.StateOpen:
		return fmt.Sprintf("processor: %s breaker closed → open (%d of the last %d attempts failed, %d in a row): calls to %s now fail at once, with Retry-After",
			name, m.Failures, m.Calls, m.ConsecutiveFailures, name)
	case c.To == circuitbreaker.StateOpen:
		return fmt.Sprintf("processor: %s breaker half-open → open (%d of %d probes failed): %s is still down; next probes after a longer wait",
			name, m.ProbeFailures, m.ProbesAdmitted, name)
	case c.To == circuitbreaker.StateHalfOpen:
		return fmt.Sprintf("processor: %s breaker open → half-open: letting %d probe calls through", name, probes)
	case c.To == circuitbreaker.StateClosed:
		return fmt.Sprintf("processor: %s breaker half-open → closed (%d probes succeeded): %s is back", name, m.ProbeSuccesses, name)
	}
	return fmt.Sprintf("processor: %s breaker %v → %v", name, c.From, c.To)
}

// callError is a service's final answer that was not a success: a 4xx
// (permanent: sending it again changes nothing), or a 5xx, 429 or 409 that
// was still there when the transport's retries ran out.
type callError struct {
	service string
	status  int
	detail  string
}

func (e *callError) Error() string {
	return fmt.Sprintf("%s answered %d %s: %s", e.service, e.status, http.StatusText(e.status), e.detail)
}

// post sends body as JSON to path with the idempotency key, and decodes a
// 2xx answer into out (if not nil). A 4xx other than 409 and 429 comes back
// as a *callError marked retry.Permanent; no answer at all (an open
// breaker, a full bulkhead, timeouts) as the policy's error.
func (d *downstream) post(ctx context.Context, path, key string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	req.Header.Set(clientHeader, "order-processor")
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		if out == nil {
			return nil
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var p struct{ Detail string }
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if json.Unmarshal(raw, &p) != nil {
		p.Detail = string(raw)
	}
	cerr := &callError{service: d.name, status: resp.StatusCode, detail: p.Detail}
	if resp.StatusCode < 500 && resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusTooManyRequests {
		return retry.Permanent(cerr)
	}
	return cerr
}

func (d *downstream) close() { d.http.CloseIdleConnections() }
