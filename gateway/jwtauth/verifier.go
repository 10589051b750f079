package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
)

// ErrInvalidToken is matched, with errors.Is, by every refusal of a token
// by Verify: the error is an *InvalidTokenError saying why.
var ErrInvalidToken = errors.New("jwtauth: invalid token")

// InvalidTokenError is Verify's refusal of a token. It matches
// ErrInvalidToken and wraps the cause.
type InvalidTokenError struct {
	// Reason is a short phrase fit for a client ("the token has expired"),
	// sent as error_description in WWW-Authenticate. It never holds key
	// material or the token.
	Reason string
	// Err is the cause, for logs.
	Err error
}

func (e *InvalidTokenError) Error() string {
	if e.Err == nil {
		return "jwtauth: invalid token: " + e.Reason
	}
	return "jwtauth: invalid token: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns ErrInvalidToken and the cause.
func (e *InvalidTokenError) Unwrap() []error { return []error{ErrInvalidToken, e.Err} }

func invalid(reason string, err error) error { return &InvalidTokenError{Reason: reason, Err: err} }

// Verifier checks JSON Web Tokens (RFC 7519) signed by the issuers of its
// Config, against their key sets, which it fetches and caches. It is safe
// for concurrent use, and a bulwark.Service: Run refreshes every key set
// each Config.RefreshInterval. Without Run, a key set is still fetched
// when a token first needs it, and again when a token names a key the set
// lacks, at most once per Config.MinRefreshInterval per issuer. It
// remembers up to Config.CacheSize tokens it accepted, so that the same
// token again costs no signature check (see Verify).
type Verifier struct {
	cfg     Config
	clock   clock.Clock
	client  *http.Client
	parser  *jwt.Parser
	issuers map[string]*issuerKeys
	order   []*issuerKeys
	life    *lifecycle.State
	cache   *tokenCache // nil with NoCache

	verified atomic.Int64 // full verifications (cache misses), for tests
}

var _ bulwark.Service = (*Verifier)(nil)

// New returns a Verifier, or an error naming the first invalid field of
// cfg. It fetches nothing: the key sets are fetched by Run or on first use.
func New(cfg Config) (*Verifier, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, clock: clock.OrSystem(cfg.Clock), client: cfg.Client, issuers: map[string]*issuerKeys{}, life: lifecycle.New()}
	if v.client == nil {
		v.client = &http.Client{}
	}
	if cfg.CacheSize > 0 {
		v.cache = newTokenCache(cfg.CacheSize)
	}
	var algs []string
	for _, is := range cfg.Issuers {
		k := newIssuerKeys(v, is)
		v.issuers[is.Issuer] = k
		v.order = append(v.order, k)
		for _, a := range is.Algorithms {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(v.clock.Now),
		jwt.WithExpirationRequired(),
	)
	return v, nil
}

func (v *Verifier) made() {
	if v == nil || v.life == nil {
		panic("jwtauth: Verifier used without New")
	}
}

// Verify checks raw (a compact JWS, without the "Bearer " prefix) and
// returns the Principal it names, or an error matching ErrInvalidToken:
// the token is longer than MaxTokenBytes or malformed; its "iss" is not a
// configured issuer; its "alg" is not in that issuer's allow-list ("none"
// never is); its key is not in the issuer's key set, even after the
// bounded refresh; its signature does not verify; it has no "exp", or has
// expired, or its "nbf" is still ahead (both with Config.Leeway); or its
// "aud" names none of the issuer's audiences; or its header has "crit"
// (RFC 7515: no extension is understood here). Header parameters that
// point at keys ("jku", "x5u", "jwk", "x5c") are never followed: keys come
// from the issuer's JWKSURL only. ctx bounds a key set fetch
// the token may cause.
//
// A token that passed all of this is remembered (Config.CacheSize): the
// same token, byte for byte, is then accepted without being decoded or its
// signature checked again, as long as its issuer's key set has not changed
// since and it is within its "exp" and "nbf" (with Leeway) by the clock at
// that moment; it gets the same *Principal. A refused token is never
// remembered.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	v.made()
	if len(raw) > v.cfg.MaxTokenBytes {
		return nil, invalid("the token is too large", nil)
	}
	if v.cache != nil {
		if e := v.cache.get(raw); e != nil {
			if p, ok, err := v.hit(e); ok {
				return p, err
			}
		}
	}
	v.verified.Add(1)
	claims := jwt.MapClaims{}
	var keys *issuerKeys
	var set *keySet
	_, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		iss, _ := claims["iss"].(string)
		k := v.issuers[iss]
		if k == nil {
			return nil, errUnknownIssuer
		}
		if !k.algs[t.Method.Alg()] {
			return nil, errAlgorithm
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritical
		}
		keys = k
		key, s, err := k.key(ctx, t)
		set = s
		return key, err
	})
	if err != nil {
		return nil, classify(err)
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return nil, invalid("the token's audience is malformed", err)
	}
	if !slices.ContainsFunc(aud, func(a string) bool { return keys.aud[a] }) {
		return nil, invalid("the token is not meant for this service", jwt.ErrTokenInvalidAudience)
	}
	p := newPrincipal(keys.issuer.Issuer, claims)
	if v.cache != nil && set != nil {
		v.remember(raw, p, keys, set, claims)
	}
	return p, nil
}

// hit answers Verify from a cache entry: ok is false when the entry no
// longer stands for a verification (its issuer's key set changed), and the
// token must be verified in full. An expired entry is refused and dropped;
// one not valid yet (the clock went back) is refused and kept.
func (v *Verifier) hit(e *cacheEntry) (p *Principal, ok bool, err error) {
	if !e.current() {
		v.cache.remove(e)
		return nil, false, nil
	}
	now := v.clock.Now()
	if !now.Before(e.exp.Add(v.cfg.Leeway)) {
		v.cache.remove(e)
		return nil, true, invalid("the token has expired", jwt.ErrTokenExpired)
	}
	if !e.nbf.IsZero() && now.Before(e.nbf.Add(-v.cfg.Leeway)) {
		return nil, true, invalid("the token is not valid yet", jwt.ErrTokenNotValidYet)
	}
	return e.p, true, nil
}

// remember puts a token that passed every check in the cache, with the
// times golang-jwt checked (parsed the same way) and the generation of the
// key set its signature was checked with.
func (v *Verifier) remember(raw string, p *Principal, keys *issuerKeys, set *keySet, claims jwt.MapClaims) {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // cannot happen: the parser required and checked it
		return
	}
	e := &cacheEntry{token: strings.Clone(raw), p: p, keys: keys, gen: set.gen, exp: exp.Time}
	nbf, err := claims.GetNotBefore()
	if err != nil {
		return
	}
	if nbf != nil {
		e.nbf = nbf.Time
	}
	v.cache.put(e, v.clock.Now(), v.cfg.Leeway)
}

var (
	errUnknownIssuer = errors.New("issuer not trusted")
	errAlgorithm     = errors.New("algorithm not in the issuer's allow-list")
	errCritical      = errors.New(`header "crit" names extensions this verifier does not understand`)
)

// classify turns a parse error into a refusal with a reason for the client.
func classify(err error) error {
	switch {
	case errors.Is(err, errUnknownIssuer):
		return invalid("the token's issuer is not trusted", err)
	case errors.Is(err, errAlgorithm), errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return invalid("the token's signing algorithm is not allowed", err)
	case errors.Is(err, errCritical):
		return invalid("the token requires unsupported extensions", err)
	case errors.Is(err, errThrottled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return invalid("the token's signing key is unknown", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid("the token has expired", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("the token is not valid yet", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("the token has no expiry", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("the token is malformed", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalid("the token's signing key is unknown", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("the token's signature is invalid", err)
	}
	return invalid("the token is invalid", err)
}

// Run fetches every issuer's key set now and then every
// Config.RefreshInterval, until ctx is done (returning its error, wrapped)
// or Close is called (returning nil). A failed fetch keeps the held key
// set and is reported as KeysFetchFailed; Run goes on. A second Run
// returns bulwark.ErrRunning, a Run after Close bulwark.ErrClosed.
func (v *Verifier) Run(ctx context.Context) error {
	v.made()
	work, err := v.life.Begin(ctx)
	if err != nil {
		return fmt.Errorf("jwtauth: %w", err)
	}
	defer v.life.End()
	for {
		for _, k := range v.order {
			_ = k.refreshPeriodic(work) // reported by fetch; the held set stays
		}
		t := v.clock.NewTimer(v.cfg.RefreshInterval)
		select {
		case <-t.C():
		case <-v.life.Stop:
			t.Stop()
			return nil
		case <-work.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("jwtauth: %w", ctx.Err())
			}
			return nil
		}
	}
}

// Close stops Run and waits, within ctx, for a fetch in flight to end.
// Verify keeps working after Close, with the key sets held and on-demand
// fetches.
func (v *Verifier) Close(ctx context.Context) error {
	v.made()
	return v.life.Close(ctx, "jwtauth")
}
