package main

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// processorSubject is the subject of the processor's own token: the saga's
// calls to the payment, inventory and notification services carry it.
const processorSubject = "order-processor"

// authenticate makes the server check the token of every request itself,
// before any of service's handlers runs, as a service that trusts no
// network would: the gateway passes each client's token on
// (forward_token), and the processor calls with a token of its own. A
// jwtauth.Route with a Verifier of the service's own (the issuer's JWKS
// fetched on first use; its cache spares the RSA check for a token it has
// seen) lets a request through only with a valid token of the issuer for
// the flow's audience, sets X-Subject from it (a copy the caller sent is
// removed first), and answers anything else 401 before a handler sees it.
// Each refusal is counted (unauthenticated), and so is any request that
// carries one of the shop's probe keys, which the gateway must have
// refused before.
func (s *server) authenticate(service, issuerURL string, count *counters) error {
	v, err := jwtauth.New(jwtauth.Config{
		Name: service,
		Issuers: []jwtauth.Issuer{{
			Issuer: issuerURL, JWKSURL: issuerURL + "/jwks.json",
			Algorithms: []string{"RS256"}, Audiences: []string{audience},
		}},
	})
	if err != nil {
		return err
	}
	route, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{
		Name:          service,
		Realm:         service,
		ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: subjectHeader}},
		Observer: bulwark.ObserverFunc(func(context.Context, bulwark.Event) {
			count.unauthenticated.Add(1) // Route reports only refusals
		}),
	})
	if err != nil {
		return err
	}
	checked := route.Handler(*s.handler.Load())
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(bulwarkhttp.HeaderIdempotencyKey), probePrefix) {
			count.probesReached.Add(1)
		}
		checked.ServeHTTP(w, r)
	}))
	s.handler.Store(&h)
	return nil
}

// processorToken mints the processor's token, valid for the run.
func (i *issuer) processorToken() (string, error) {
	return i.sign(i.claims(processorSubject, 24*time.Hour, scopeProcess))
}
