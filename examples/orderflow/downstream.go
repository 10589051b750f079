package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/policyset"
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
//
// The chain's settings are not in this file: they are the "inventory",
// "payments" and "notifications" policies of the processor's policyset,
// read from the settings document (settings.go), and an operator may change
// them while the flow runs; what a document cannot say (the retry budget,
// which errors the breaker ignores) is downstreamFunctions. Nor is the
// service's address: each client sends its requests through an
// upstream.Pool that follows the service's endpoints in the registry
// (registry.go), round robin.
type downstream struct {
	name    string
	url     string // "http://<service>": the pool puts an endpoint's address in its place
	http    *http.Client
	pool    *upstream.Pool
	running *bulwark.Group // the pool's Run
	token   string         // the processor's bearer token ("" sends none)
}

// newDownstream returns the client of the service downstreamNames[index],
// whose requests go through policy and reach the service's endpoints as
// resolver has them. It returns once the pool has the first endpoint set.
func newDownstream(ctx context.Context, index int, policy bulwark.Policy, resolver discovery.Resolver) (*downstream, error) {
	name := downstreamNames[index]
	pool, err := upstream.New(resolver, name, upstream.Config{
		MaxIdleConnsPerHost: 16,
		// The pool's outlier ejection is for a pool of many instances; the
		// processor's breaker already stands between it and a failing
		// service, and ejecting a service's only instance for 30s would
		// outlast its outage.
		Outlier: upstream.Outlier{ConsecutiveFailures: 10000, EjectionTime: time.Second},
	})
	if err != nil {
		return nil, err
	}
	d := &downstream{name: name, url: "http://" + name, pool: pool, running: bulwark.Start(context.Background(), pool)}
	select {
	case <-pool.Ready():
	case <-d.running.Done():
		d.close()
		return nil, fmt.Errorf("the %s pool stopped: %v", name, d.running.Err())
	case <-ctx.Done():
		d.close()
		return nil, ctx.Err()
	}
	t, err := bulwarkhttp.NewTransport(policy, bulwarkhttp.TransportConfig{
		Base: pool,
		// 409 (another attempt with the key is running) is worth retrying
		// after its Retry-After, like a 5xx or a 429.
		IsFailure: func(r *http.Response) bool {
			return bulwarkhttp.DefaultIsFailure(r) || r.StatusCode == http.StatusConflict
		},
	})
	if err != nil {
		d.close()
		return nil, err
	}
	d.http = &http.Client{Transport: t}
	return d, nil
}

// downstreamFunctions are what the settings document cannot say about each
// downstream's policy: a retry budget shared by every caller of the
// service, so that retries cannot multiply the load on a service in
// trouble, and the errors the breaker ignores.
func downstreamFunctions() (map[string]policyset.Functions, error) {
	fns := map[string]policyset.Functions{}
	for _, name := range downstreamNames {
		budget, err := retry.NewBudget(retry.BudgetConfig{})
		if err != nil {
			return nil, err
		}
		fns[name] = policyset.Functions{
			Budget: budget,
			// Neither of these says the service is failing: a 409 says it
			// is alive and still busy with an earlier attempt under the
			// same key, and a full bulkhead is the processor's own queue.
			IsIgnored: func(err error) bool {
				var se *bulwarkhttp.StatusError
				return (errors.As(err, &se) && se.StatusCode == http.StatusConflict) || errors.Is(err, bulkhead.ErrFull)
			},
		}
	}
	return fns, nil
}

// downstreamObserver counts and tells what the downstream policies do:
// retries, breaker changes and refusals, bulkhead refusals, hedges and
// timed-out attempts, each by the service its policy is named after.
func downstreamObserver(story *story, count *counters) bulwark.Observer {
	var toldRefusal [downstreams]atomic.Bool // the first refusal of this open spell was told
	var toldHedge atomic.Bool
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		i := slices.Index(downstreamNames[:], e.Component())
		if i < 0 {
			return
		}
		name := downstreamNames[i]
		switch e := e.(type) {
		case retry.Retried:
			count.stepRetry[i].Add(1)
		case circuitbreaker.StateChange:
			if e.To == circuitbreaker.StateOpen {
				count.opened[i].Add(1)
				toldRefusal[i].Store(false)
			}
			story.say("%s", describeChange(name, e))
		case circuitbreaker.Rejected:
			count.rejected[i].Add(1)
			if toldRefusal[i].CompareAndSwap(false, true) {
				story.say("processor: the %s breaker refuses a call at once, with Retry-After %v: the saga step waits that long, then tries again",
					name, e.Err.RetryAfter().Round(10*time.Millisecond))
			}
		case bulkhead.Rejected:
			count.rejected[i].Add(1)
		case hedge.Hedged:
			count.hedged.Add(1)
			if toldHedge.CompareAndSwap(false, true) {
				story.say("processor: a request to %s had no answer after %v: a hedged second request goes out, and the first success wins (the summaries count the rest)", name, e.Delay)
			}
		case timeout.TimedOut:
			count.timedOut[i].Add(1)
		}
	})
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
	// The call's start, for the settings' audit: which version of the
	// settings a timed-out attempt ran under (settings.go).
	ctx = withCallStart(ctx, time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	req.Header.Set(clientHeader, "order-processor")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
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

func (d *downstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.running.Stop(ctx) // closes the pool and its idle connections
}
