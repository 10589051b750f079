package upstream

import (
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

// ErrUnknownEndpoint is returned by Eject and Restore for an address the
// pool does not hold.
var ErrUnknownEndpoint = errors.New("upstream: no such endpoint in the pool")

// Eject takes the endpoint addr out of the pool by hand: no request goes
// to it until Restore, whatever the outlier settings (its breaker is
// forced open; Outlier.MaxEjectedPercent does not hold an operator back).
// Its EndpointState then reads Ejected and Manual, with a zero
// EjectedUntil. An endpoint the resolver drops is forgotten, ejection and
// all.
func (p *Pool) Eject(addr string) error {
	ep, err := p.endpoint(addr)
	if err != nil {
		return err
	}
	ep.breaker.ForceOpen()
	return nil
}

// Restore returns the endpoint addr to the pool, ending a manual ejection
// or an outlier ejection early (its breaker is reset); an EndpointRestored
// event follows when it was ejected.
func (p *Pool) Restore(addr string) error {
	ep, err := p.endpoint(addr)
	if err != nil {
		return err
	}
	ep.breaker.Reset()
	return nil
}

func (p *Pool) endpoint(addr string) (*endpoint, error) {
	p.check()
	ep := p.set.Load().byAddr[addr]
	if ep == nil {
		return nil, fmt.Errorf("%w: %q of %s", ErrUnknownEndpoint, addr, p.cfg.Name)
	}
	return ep, nil
}

// manual reports whether the endpoint was ejected by Eject.
func (ep *endpoint) manual() bool {
	return ep.breaker.State() == circuitbreaker.StateForcedOpen
}
