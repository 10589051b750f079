package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

// errGatewayStatus is the failure a 502, 503 or 504 answer records on its
// endpoint's breaker.
var errGatewayStatus = errors.New("upstream: gateway error status")

// RoundTrip sends req to one endpoint of the pool, chosen as the Pool's doc
// says: it sets the URL's scheme and host to the endpoint's, leaves the rest
// of the request as it is (Host included), and returns the endpoint's
// response as it is. A transport error, or a 502, 503 or 504 answer, counts
// as a failure toward the endpoint's ejection; the caller's own
// cancellation does not count. The request counts as outstanding on its
// endpoint until the response body is closed. With no endpoint to send to it
// returns ErrNoEndpoint; when that is because every endpoint is ejected,
// bulwark.RetryAfter reads from the error the time until the first
// ejection ends.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	p.check()
	ctx := req.Context()
	c := callOf(ctx)
	ep, permit, err := p.pick(ctx, c.snapshot())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if c != nil {
		c.add(ep.addr)
	}
	o := &outgoing{req: *req, url: *req.URL} // one allocation for both copies
	o.url.Scheme, o.url.Host = p.cfg.Scheme, ep.addr
	o.req.URL = &o.url
	out := &o.req
	ep.outstanding.Add(1)
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		ep.outstanding.Add(-1)
		permit.Done(err)
		return nil, fmt.Errorf("upstream: %s: endpoint %s: %w", p.cfg.Name, ep.addr, err)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		permit.Done(errGatewayStatus)
	default:
		permit.Done(nil)
	}
	resp.Body = countBody(resp.Body, ep)
	return resp, nil
}

// outgoing is the request sent to an endpoint: a shallow copy of the
// caller's with its own URL.
type outgoing struct {
	req http.Request
	url url.URL
}

// The tiers of endpoints a request may go to, best first.
const (
	tierFresh     = iota // healthy, not ejected, not used by the call
	tierUsed             // healthy, not ejected
	tierPanicFree        // not ejected, not used by the call (no endpoint healthy)
	tierPanic            // not ejected
	tiers
)

// pick chooses the endpoint of one attempt and takes its breaker's permit.
// used is the addresses the call's earlier attempts went to.
func (p *Pool) pick(ctx context.Context, used []string) (*endpoint, circuitbreaker.Permit, error) {
	list := p.set.Load().list
	var refused []*endpoint // endpoints whose breaker refused this attempt
	for range len(list) + 1 {
		ep := p.choose(list, used, refused)
		if ep == nil {
			break
		}
		permit, err := ep.breaker.Allow(ctx)
		if err == nil {
			return ep, permit, nil
		}
		refused = append(refused, ep)
	}
	err := fmt.Errorf("%w (pool %q)", ErrNoEndpoint, p.cfg.Name)
	if until := soonestReturn(list); until != 0 {
		err = &ejectedError{err: err, retryAfter: time.Duration(until - p.clock.Now().UnixNano())}
	}
	return nil, circuitbreaker.Permit{}, err
}

// soonestReturn is the end of the ejection that ends first, in Unix
// nanoseconds; 0 when no endpoint is ejected.
func soonestReturn(list []*endpoint) int64 {
	var soonest int64
	for _, ep := range list {
		if at := ep.ejectedAt.Load(); at != 0 && (soonest == 0 || at < soonest) {
			soonest = at
		}
	}
	return soonest
}

// ejectedError is ErrNoEndpoint when every endpoint is ejected: it carries
// the time until the first ejection ends, which bulwark.RetryAfter reads
// (and bulwarkhttp turns into a Retry-After header).
type ejectedError struct {
	err        error
	retryAfter time.Duration
}

func (e *ejectedError) Error() string             { return e.err.Error() }
func (e *ejectedError) Unwrap() error             { return e.err }
func (e *ejectedError) RetryAfter() time.Duration { return max(e.retryAfter, 0) }

// choose returns the balancer's choice in the best tier that has an
// endpoint, or nil when no endpoint can be used.
func (p *Pool) choose(list []*endpoint, used []string, refused []*endpoint) *endpoint {
	if len(list) == 0 {
		return nil
	}
	anyHealthy := false
	for _, ep := range list {
		if ep.healthy.Load() && !slices.Contains(refused, ep) && !ep.ejected() {
			anyHealthy = true
			break
		}
	}
	for tier := range tiers {
		if (tier >= tierPanicFree) == anyHealthy {
			continue
		}
		if (tier == tierUsed || tier == tierPanic) && len(used) == 0 {
			continue // the same as the tier before
		}
		ok := func(ep *endpoint) bool {
			if tier <= tierUsed && !ep.healthy.Load() {
				return false
			}
			if (tier == tierFresh || tier == tierPanicFree) && slices.Contains(used, ep.addr) {
				return false
			}
			return !slices.Contains(refused, ep) && !ep.ejected()
		}
		var ep *endpoint
		if p.cfg.Balancer == LeastOutstanding {
			ep = twoChoices(list, ok)
		} else {
			ep = p.roundRobin(list, ok)
		}
		if ep != nil {
			return ep
		}
	}
	return nil
}

// roundRobin returns the next endpoint in turn that ok accepts.
func (p *Pool) roundRobin(list []*endpoint, ok func(*endpoint) bool) *endpoint {
	n := uint64(len(list))
	start := p.next.Add(1)
	for i := range n {
		if ep := list[(start+i)%n]; ok(ep) {
			return ep
		}
	}
	return nil
}

// twoChoices picks two of the endpoints ok accepts at random and returns the
// one with fewer outstanding requests (the only one, if only one).
func twoChoices(list []*endpoint, ok func(*endpoint) bool) *endpoint {
	k := 0
	for _, ep := range list {
		if ok(ep) {
			k++
		}
	}
	switch k {
	case 0:
		return nil
	case 1:
		return nth(list, ok, 0)
	}
	i := rand.IntN(k)
	j := rand.IntN(k - 1)
	if j >= i {
		j++
	}
	a, b := nth(list, ok, i), nth(list, ok, j)
	switch { // an endpoint ejected meanwhile is no longer found
	case a == nil:
		return b
	case b == nil:
		return a
	}
	if b.outstanding.Load() < a.outstanding.Load() {
		return b
	}
	return a
}

// nth returns the i-th endpoint ok accepts.
func nth(list []*endpoint, ok func(*endpoint) bool, i int) *endpoint {
	for _, ep := range list {
		if ok(ep) {
			if i == 0 {
				return ep
			}
			i--
		}
	}
	return nil
}
