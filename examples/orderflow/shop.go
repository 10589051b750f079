package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// clientAttemptTimeout is how long the shop client waits for one answer of
// the order service before it gives up on the attempt and retries.
const clientAttemptTimeout = 400 * time.Millisecond

// send is one order the shop client sends.
type send struct {
	at     time.Duration // after the start of the run
	client string
	key    string // the order's idempotency key, made by the client
	req    orderRequest
	twice  bool // a second copy goes out at once: a double click, a proxy retrying
	again  bool // sent again at the end: the app restarted and resent what it had sent
}

// Prices in cents.
var prices = map[string]int{"widget": 1500, "gadget": 4900, "gizmo": 990}

// plan draws the n orders the shop sends during the phases, in the order
// of their times. The "web" client sends its orders one by one, evenly
// spread; the "partner" client sends batches of at least 4 orders at once
// in the middle of a phase (of each phase when it has enough orders, of
// every other one otherwise), which run into its rate limit at the
// gateway.
func plan(n int, phase time.Duration, phases int, rng *rand.Rand) []send {
	partner := n / 3
	web := n - partner
	span := time.Duration(phases) * phase
	batches := max(1, min(phases, partner/4))
	sends := make([]send, 0, n)
	for i := range n {
		s := send{client: "web"}
		if i < web {
			s.at = span * time.Duration(i) / time.Duration(web)
		} else {
			s.client = "partner"
			batch := (i - web) * batches / max(partner, 1)
			s.at = time.Duration(batch*phases/batches)*phase + phase/2
		}
		s.key = fmt.Sprintf("%s-%04d", s.client, i+1)
		sku := skus[rng.IntN(len(skus))]
		qty := 1 + rng.IntN(3)
		card := "4242-4242-4242-4242"
		if i == 2 || rng.Float64() < 0.1 {
			card = declinedCard
		}
		s.req = orderRequest{SKU: sku, Qty: qty, Cents: qty * prices[sku], Card: card}
		s.twice = rng.Float64() < 0.15
		s.again = rng.Float64() < 0.1
		sends = append(sends, s)
	}
	slices.SortStableFunc(sends, func(a, b send) int { return cmp.Compare(a.at, b.at) })
	return sends
}

// shop is the client of the order flow: its apps ("web" and "partner")
// send every request to the gateway (url) with their client's bearer token
// (tokens). Its orders transport retries through timeouts, 409s (the first
// request with the key is still running), 429s (over the client's limit,
// after the Retry-After the gateway sends) and 5xx, always with the order's
// idempotency key, so no retry creates a second order. Its reads (order
// details, history, the probes of reads.go) go out once each.
type shop struct {
	url    string
	tokens map[string]string // client → its bearer token
	phase  func() int        // the phase whose history weight the gateway runs
	http   *http.Client
	reads  *http.Client
	story  *story
	count  *counters

	mu        sync.Mutex
	answers   map[string][]string // key → the order ID of each answer
	failed    []string            // keys of sends that never got an order
	probes    []probe             // the bad requests and their statuses
	details   []detailRead        // the order details read
	histories []historyRead       // the history requests
}

func newShop(url string, tokens map[string]string, phase func() int, story *story, count *counters) (*shop, error) {
	retrier, err := retry.New(retry.Config{
		MaxAttempts:    retry.Unlimited, // MaxElapsedTime ends it
		MaxElapsedTime: 30 * time.Second,
		Backoff:        retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:       2 * time.Second,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(retry.Retried); ok {
				count.clientRetry[retryReason(r.Err)].Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	perAttempt, err := timeout.New(timeout.Config{Timeout: clientAttemptTimeout})
	if err != nil {
		return nil, err
	}
	t, err := bulwarkhttp.NewTransport(bulwark.Chain(retrier, perAttempt), bulwarkhttp.TransportConfig{
		Base: &http.Transport{MaxIdleConnsPerHost: 16},
		IsFailure: func(r *http.Response) bool {
			return bulwarkhttp.DefaultIsFailure(r) || r.StatusCode == http.StatusConflict
		},
	})
	if err != nil {
		return nil, err
	}
	return &shop{url: url, tokens: tokens, phase: phase, http: &http.Client{Transport: t},
		reads: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 5 * time.Second},
		story: story, count: count, answers: map[string][]string{}}, nil
}

func retryReason(err error) int {
	var se *bulwarkhttp.StatusError
	switch {
	case errors.Is(err, timeout.ErrTimeout):
		return retryTimeout
	case errors.As(err, &se) && se.StatusCode == http.StatusConflict:
		return retryBusy
	case errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests:
		return retryLimited
	}
	return retryFailed
}

// run sends the planned orders at their times, each (and each copy) on a
// goroutine of its own, and returns when every answer is in. Meanwhile it
// reads its clients' order histories (browse).
func (c *shop) run(ctx context.Context, sends []send, start time.Time) {
	browsing, stopBrowsing := context.WithCancel(ctx)
	browsed := make(chan struct{})
	go func() {
		defer close(browsed)
		c.browse(ctx, browsing)
	}()
	defer func() {
		stopBrowsing()
		<-browsed
	}()
	var wg sync.WaitGroup
	for _, s := range sends {
		if !sleepUntil(ctx, start.Add(s.at)) {
			break
		}
		if s.twice {
			wg.Go(func() { c.place(ctx, s, copySend) })
			wg.Go(func() { c.place(ctx, s, copySend) })
		} else {
			wg.Go(func() { c.place(ctx, s, firstSend) })
		}
	}
	wg.Wait()
}

// resend sends the orders marked again a second time, as an app that
// restarted and does not know which of its orders got through.
func (c *shop) resend(ctx context.Context, sends []send) {
	var wg sync.WaitGroup
	n := 0
	for _, s := range sends {
		if s.again {
			n++
			wg.Go(func() { c.place(ctx, s, sentAgain) })
		}
	}
	c.story.say("shop: the shop's apps restarted and send %d orders again, with the keys they had sent them with", n)
	wg.Wait()
}

// Why an order is sent.
const (
	firstSend = iota // the one send of the order
	copySend         // one of two copies sent at once
	sentAgain        // sent again after a restart
)

// place sends one order and records the answer.
func (c *shop) place(ctx context.Context, s send, why int) {
	c.count.sent.Add(1)
	order, replayed, err := c.post(ctx, s)
	c.mu.Lock()
	if err != nil {
		c.failed = append(c.failed, s.key)
	} else {
		c.answers[s.key] = append(c.answers[s.key], order)
	}
	c.mu.Unlock()
	if err == nil && why != sentAgain {
		c.readDetails(ctx, s.client, order)
	}
	switch {
	case err != nil:
		c.story.say("shop: %s failed for good: %v", s.key, err)
	case !replayed:
	case why == copySend:
		c.story.say("shop: %s went out twice at once; this copy got %s back, replayed from the idempotency record: no second order", s.key, order)
	case why == sentAgain:
		c.story.say("shop: %s, sent again, got %s back from the idempotency record: no second order", s.key, order)
	default:
		c.story.say("shop: %s's first attempt timed out after the order was written; the retry got %s back from the idempotency record: no second order", s.key, order)
	}
}

func (c *shop) post(ctx context.Context, s send) (order string, replayed bool, err error) {
	body, err := json.Marshal(s.req)
	if err != nil {
		return "", false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/orders", bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.tokens[s.client])
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, s.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", false, fmt.Errorf("the gateway answered %s", resp.Status)
	}
	var ev orderEvent
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil {
		return "", false, err
	}
	return ev.OrderID, resp.Header.Get(bulwarkhttp.HeaderIdempotentReplayed) == "true", nil
}

func (c *shop) close() {
	c.http.CloseIdleConnections()
	c.reads.CloseIdleConnections()
}

// sleepUntil waits until t, and reports false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
