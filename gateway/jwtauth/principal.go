package jwtauth

import (
	"context"
	"strings"
)

// Principal is the authenticated caller a verified token names.
type Principal struct {
	// Subject is the token's "sub" claim ("" when it has none).
	Subject string
	// Issuer is the token's "iss", one of Config.Issuers.
	Issuer string
	// Scopes are the token's scopes: the space-separated "scope" claim
	// (RFC 8693), or else the "scp" claim (a list or a space-separated
	// string).
	Scopes []string
	// Claims holds every claim of the token as decoded from JSON (numbers
	// as float64). Treat it as read-only, like the whole Principal: it is
	// shared by the request's handlers and, through the Verifier's token
	// cache, by every request that carries the same token.
	Claims map[string]any
}

func newPrincipal(issuer string, claims map[string]any) *Principal {
	p := &Principal{Issuer: issuer, Claims: claims}
	p.Subject, _ = claims["sub"].(string)
	if s, ok := claims["scope"].(string); ok {
		p.Scopes = strings.Fields(s)
		return p
	}
	switch scp := claims["scp"].(type) {
	case string:
		p.Scopes = strings.Fields(scp)
	case []any:
		for _, s := range scp {
			if s, ok := s.(string); ok {
				p.Scopes = append(p.Scopes, s)
			}
		}
	}
	return p
}

// HasScope reports whether p holds scope.
func (p *Principal) HasScope(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type contextKey struct{}

// NewContext returns a copy of ctx that carries p; the Route middleware
// calls it for each authenticated request.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the Principal a Route put in ctx, or nil and false
// when the request was not authenticated by one.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(*Principal)
	return p, ok && p != nil
}

// Subject returns the subject of the Principal in ctx, or "" when there is
// none: what a rate limit keyed by caller reads (see package clientlimit).
func Subject(ctx context.Context) string {
	if p, ok := FromContext(ctx); ok {
		return p.Subject
	}
	return ""
}
