package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

const (
	workers        = 6
	permits        = 4
	attemptTimeout = 300 * time.Millisecond
	pause          = 50 * time.Millisecond // between a worker's requests, on average
)

// client calls the inventory through the resilient transport.
type client struct {
	url     string
	http    *http.Client
	breaker *circuitbreaker.Breaker
	retries atomic.Int64
}

func newClient(url string, log func(string, ...any)) (*client, error) {
	c := &client{url: url}

	// A rejection by the breaker or the bulkhead (bulwark.ErrRejected) is an
	// answer, not an accident: the retrier gives up on it at once, since
	// knocking again would only add load.
	retrier, err := retry.New(retry.Config{
		MaxAttempts: 3,
		Backoff:     retry.Exponential{Initial: 50 * time.Millisecond, Jitter: retry.FullJitter},
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(retry.Retried); ok {
				c.retries.Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}

	c.breaker, err = circuitbreaker.New(circuitbreaker.Config{
		Name:                 "inventory",
		Window:               circuitbreaker.LastCalls(50),
		MinimumCalls:         20,
		FailureRateThreshold: 50,
		OpenWait:             time.Second,
		OpenWaitMultiplier:   circuitbreaker.FixedOpenWait,
		HalfOpenCalls:        3,
		HalfOpenSuccesses:    2,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			sc, ok := e.(circuitbreaker.StateChange)
			if !ok {
				return
			}
			switch sc.To {
			case circuitbreaker.StateOpen:
				if sc.From == circuitbreaker.StateClosed {
					log("breaker %v -> %v: %d of the last %d attempts failed", sc.From, sc.To, sc.Metrics.Failures, sc.Metrics.Calls)
				} else {
					log("breaker %v -> %v: a probe failed, still down", sc.From, sc.To)
				}
			default:
				log("breaker %v -> %v", sc.From, sc.To)
			}
		}),
	})
	if err != nil {
		return nil, err
	}

	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: permits})
	if err != nil {
		return nil, err
	}
	perAttempt, err := timeout.New(timeout.Config{Timeout: attemptTimeout})
	if err != nil {
		return nil, err
	}

	t, err := bulwarkhttp.NewTransport(bulwark.Chain(retrier, c.breaker, bh, perAttempt), bulwarkhttp.TransportConfig{
		Base: &http.Transport{MaxIdleConnsPerHost: workers},
	})
	if err != nil {
		return nil, err
	}
	c.http = &http.Client{Transport: t}
	return c, nil
}

// outcome is how one request ended, as its caller saw it.
type outcome int

const (
	ok outcome = iota
	failed
	timedOut
	open
	full
	other
)

// work starts the workers; they send outcomes until ctx is done, then close
// the returned channel.
func (c *client) work(ctx context.Context, results chan<- outcome) <-chan struct{} {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				o := c.get(ctx)
				if ctx.Err() != nil {
					return // the run is over; this request was cut short
				}
				select {
				case results <- o:
				case <-ctx.Done():
					return
				}
				select {
				case <-time.After(pause/2 + rand.N(pause)): // jitter keeps workers out of step
				case <-ctx.Done():
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

func (c *client) get(ctx context.Context) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return other
	}
	resp, err := c.http.Do(req)
	switch {
	case err == nil:
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return ok
		}
		return failed // the retries ran out on 5xx: the last response
	case errors.Is(err, circuitbreaker.ErrOpen):
		return open
	case errors.Is(err, bulkhead.ErrFull):
		return full
	case errors.Is(err, timeout.ErrTimeout):
		return timedOut
	}
	return other
}

// tally counts outcomes.
type tally [other + 1]int

func (t *tally) add(o outcome) { t[o]++ }

func (t *tally) requests() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

func (t tally) String() string {
	s := fmt.Sprintf("%3d ok, %2d failed with 5xx, %2d timed out, %2d rejected by the open breaker, %2d by the full bulkhead",
		t[ok], t[failed], t[timedOut], t[open], t[full])
	if t[other] > 0 {
		s += fmt.Sprintf(", %d other errors", t[other])
	}
	return s
}
