package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// checkHealth runs rounds of health checks until ctx ends: one at once, then
// one Interval after each round ended.
func (p *Pool) checkHealth(ctx context.Context) {
	for {
		p.healthRound(ctx)
		t := p.clock.NewTimer(p.cfg.HealthCheck.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// healthRound checks every endpoint at once and waits for every check.
func (p *Pool) healthRound(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ep := range p.set.Load().list {
		wg.Go(func() { p.checkOne(ctx, ep) })
	}
	wg.Wait()
}

// checkOne checks ep once and changes its health when a threshold is
// reached.
func (p *Pool) checkOne(ctx context.Context, ep *endpoint) {
	err := p.probe(ctx, ep)
	if ctx.Err() != nil {
		return // stopping: the check says nothing about the endpoint
	}
	hc := p.cfg.HealthCheck
	if err == nil {
		ep.failures = 0
		ep.passes++
		if !ep.healthy.Load() && ep.passes >= hc.HealthyAfter {
			ep.healthy.Store(true)
			p.observe(ctx, HealthChanged{Name: p.cfg.Name, Addr: ep.addr, Healthy: true})
			ep.breaker.Reset() // a healthy endpoint is no outlier any more, as in Envoy
		}
		return
	}
	ep.passes = 0
	ep.failures++
	if ep.healthy.Load() && ep.failures >= hc.UnhealthyAfter {
		ep.healthy.Store(false)
		p.observe(ctx, HealthChanged{Name: p.cfg.Name, Addr: ep.addr, Healthy: false, Err: err})
	}
}

// probe sends one health check to ep: nil for a 2xx answer within Timeout.
func (p *Pool) probe(ctx context.Context, ep *endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HealthCheck.Timeout)
	defer cancel()
	url := p.cfg.Scheme + "://" + ep.addr + p.cfg.HealthCheck.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("upstream: health check %s: status %d", url, resp.StatusCode)
	}
	return nil
}
