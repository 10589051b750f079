package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// jwtKey is what makes two jwt sections the same Verifier.
func jwtKey(j *JWT) string {
	if j == nil {
		return ""
	}
	b, err := json.Marshal(j)
	if err != nil { // strings, numbers and durations only
		panic("gateway: encoding the jwt section: " + err.Error())
	}
	return string(b)
}

// verifier returns the Verifier of doc's jwt section: old's when the
// section did not change, a new one otherwise, nil without a section.
func (g *Gateway) verifier(doc *Document, old *table) (*jwtauth.Verifier, string, error) {
	key := jwtKey(doc.JWT)
	if doc.JWT == nil {
		return nil, key, nil
	}
	if old != nil && old.verifier != nil && old.jwtKey == key {
		return old.verifier, key, nil
	}
	j := doc.JWT
	cfg := jwtauth.Config{
		Leeway:             time.Duration(j.Leeway),
		MaxTokenBytes:      j.MaxTokenBytes,
		FetchTimeout:       time.Duration(j.FetchTimeout),
		MinRefreshInterval: time.Duration(j.MinRefreshInterval),
		RefreshInterval:    time.Duration(j.RefreshInterval),
		CacheSize:          j.CacheSize,
		Clock:              g.cfg.Clock,
		Name:               g.name,
		Observer:           g.cfg.Observer,
	}
	for _, is := range j.Issuers {
		cfg.Issuers = append(cfg.Issuers, jwtauth.Issuer{Issuer: is.Issuer, JWKSURL: is.JWKSURL, Algorithms: is.Algorithms, Audiences: is.Audiences})
	}
	v, err := jwtauth.New(cfg)
	if err != nil {
		return nil, key, fmt.Errorf("gateway: jwt: %w", err)
	}
	return v, key, nil
}

// guard puts the route's auth and then its limits in front of h: auth runs
// first, so a limit by subject counts the subject auth verified.
func (g *Gateway) guard(path string, r Route, h http.Handler, t, old *table) (http.Handler, error) {
	if l := r.Limits; l != nil {
		lim, err := g.clientLimiter(path+".limits", r, t, old)
		if err != nil {
			return nil, err
		}
		h = lim.Handler(h)
	}
	a := r.Auth
	if a == nil {
		return h, nil
	}
	if t.verifier == nil {
		return nil, fmt.Errorf("gateway: %s.auth: the document has no jwt section", path)
	}
	rc := jwtauth.RouteConfig{Realm: a.Realm, RequiredClaims: a.RequiredClaims, Scopes: a.Scopes, ForwardToken: a.ForwardToken, Name: r.routeName(), Observer: g.cfg.Observer}
	for _, claim := range slices.Sorted(maps.Keys(a.ForwardClaims)) {
		rc.ForwardClaims = append(rc.ForwardClaims, jwtauth.ForwardedClaim{Claim: claim, Header: a.ForwardClaims[claim]})
	}
	jr, err := jwtauth.NewRoute(t.verifier, rc)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s.auth: %w", path, err)
	}
	if a.Required == nil || *a.Required {
		return jr.Handler(h), nil
	}
	opt := &optionalAuth{auth: jr.Handler(h), anonymous: h}
	for _, f := range rc.ForwardClaims {
		opt.headers = append(opt.headers, f.Header)
	}
	return opt, nil
}

// optionalAuth lets a request without an Authorization header through
// anonymously (without any forwarded-claim header the client sent) and
// sends any other through the jwtauth Route, which refuses it or passes it
// on without the header (unless forward_token).
type optionalAuth struct {
	auth, anonymous http.Handler
	headers         []string
}

func (o *optionalAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values("Authorization")) > 0 {
		o.auth.ServeHTTP(w, r)
		return
	}
	for _, h := range o.headers {
		r.Header.Del(h)
	}
	o.anonymous.ServeHTTP(w, r)
}

// clientLimiter builds the route's clientlimit.Limiter. A window whose
// route, name, limit and period did not change keeps old's limiter, so a
// reload does not hand every client a fresh budget.
func (g *Gateway) clientLimiter(path string, r Route, t, old *table) (*clientlimit.Limiter, error) {
	l := r.Limits
	cfg := clientlimit.Config{APIKeyHeader: l.APIKeyHeader, Proxies: g.cfg.Proxies, Cost: l.Cost, FailClosed: l.FailClosed, Name: r.routeName(), Observer: g.cfg.Observer}
	for _, k := range l.KeyBy {
		cfg.KeyBy = append(cfg.KeyBy, map[string]clientlimit.KeySource{"subject": clientlimit.BySubject, "api_key": clientlimit.ByAPIKey, "ip": clientlimit.ByClientIP}[k])
	}
	for i, w := range l.Windows {
		name := w.windowName()
		key := r.routeName() + "\x00" + name + "\x00" + strconv.Itoa(w.Limit) + "\x00" + time.Duration(w.Period).String()
		k := old.keyedLimiter(key)
		if k == nil {
			kc := ratelimit.KeyedConfig{Config: ratelimit.Config{Name: r.routeName(), Observer: g.cfg.Observer, Clock: g.cfg.Clock, Limit: w.Limit, Period: time.Duration(w.Period)}}
			if g.cfg.RateLimitStore != nil {
				kc.Store = prefixStore{store: g.cfg.RateLimitStore, prefix: g.name + ":" + r.routeName() + ":" + name + ":"}
			}
			var err error
			if k, err = ratelimit.NewKeyed(kc); err != nil {
				return nil, fmt.Errorf("gateway: %s.windows[%d]: %w", path, i, err)
			}
		}
		t.keyed[key] = k
		cfg.Windows = append(cfg.Windows, clientlimit.Window{Name: name, Limiter: k})
	}
	lim, err := clientlimit.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	return lim, nil
}

// keyedLimiter returns the window limiter t holds under key, or nil.
func (t *table) keyedLimiter(key string) *ratelimit.Keyed {
	if t == nil {
		return nil
	}
	return t.keyed[key]
}

// prefixStore gives the keys of one route's window their own prefix in a
// store shared by several windows, routes and gateway processes.
type prefixStore struct {
	store  ratelimit.Store
	prefix string
}

func (s prefixStore) Take(ctx context.Context, key string, rule ratelimit.Rule, now time.Time) (time.Duration, error) {
	return s.store.Take(ctx, s.prefix+key, rule, now)
}

// runVerifier runs v (its periodic key set refresh) until the gateway
// stops. Called with g.mu held while running.
func (g *Gateway) runVerifier(v *jwtauth.Verifier) {
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		err := v.Run(g.runCtx)
		if err != nil && g.runCtx.Err() == nil && !errors.Is(err, bulwark.ErrClosed) {
			g.errorLog.Error("gateway: the jwt verifier stopped", "error", err)
		}
	}()
}

// closeVerifier stops v's Run in the background (Verify goes on working
// for the requests still on the table that used it). Called with g.mu held.
func (g *Gateway) closeVerifier(v *jwtauth.Verifier) {
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := v.Close(ctx); err != nil {
			g.errorLog.Error("gateway: closing the jwt verifier", "error", err)
		}
	}()
}
