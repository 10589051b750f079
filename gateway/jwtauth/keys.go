package jwtauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// The causes of a key set fetch, as KeysFetched and KeysFetchFailed report
// them.
const (
	CauseFirstUse   = "first_use"   // a token arrived before any key set was held
	CauseUnknownKID = "unknown_kid" // a token named a key the set does not hold
	CausePeriodic   = "periodic"    // Run's refresh every Config.RefreshInterval
)

// issuerKeys holds one issuer's settings and its cached key set.
type issuerKeys struct {
	v      *Verifier
	issuer Issuer
	algs   map[string]bool
	aud    map[string]bool

	set atomic.Pointer[keySet] // nil until the first fetch succeeds

	// sem serialises fetches (one in flight per issuer) and lets a waiter
	// give up with its context.
	sem chan struct{}
	// lastDemand is when a fetch caused by a token (first use or unknown
	// kid) last started; guarded by sem.
	lastDemand time.Time
}

// keySet is one fetched key set of an issuer. Its generation changes only
// when a fetch brings a document that differs from the one held: tokens
// remembered by the token cache under another generation are verified
// again.
type keySet struct {
	kf     keyfunc.Keyfunc
	gen    uint64
	digest [sha256.Size]byte // of the document it was parsed from
}

func newIssuerKeys(v *Verifier, is Issuer) *issuerKeys {
	k := &issuerKeys{v: v, issuer: is, algs: map[string]bool{}, aud: map[string]bool{}, sem: make(chan struct{}, 1)}
	for _, a := range is.Algorithms {
		k.algs[a] = true
	}
	for _, a := range is.Audiences {
		k.aud[a] = true
	}
	return k
}

// key returns the verification key for t and the key set it came from,
// fetching the key set when none is held yet or when t names a key it does
// not hold, at most once per Config.MinRefreshInterval.
func (k *issuerKeys) key(ctx context.Context, t *jwt.Token) (any, *keySet, error) {
	held := k.set.Load()
	if held != nil {
		key, err := held.kf.KeyfuncCtx(ctx)(t)
		if err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
			return key, held, err
		}
	}
	cause := CauseUnknownKID
	if held == nil {
		cause = CauseFirstUse
	}
	if err := k.refreshOnDemand(ctx, held, cause); err != nil {
		return nil, nil, err
	}
	set := k.set.Load()
	key, err := set.kf.KeyfuncCtx(ctx)(t)
	return key, set, err
}

// generation returns the generation of the held key set (0 before the
// first fetch).
func (k *issuerKeys) generation() uint64 {
	if s := k.set.Load(); s != nil {
		return s.gen
	}
	return 0
}

// errThrottled is returned when a token needs a fetch that the refresh
// budget does not allow yet.
var errThrottled = errors.New("key not in the cached key set, and the key set was fetched less than MinRefreshInterval ago")

// refreshOnDemand fetches the key set for a token that needs a key the
// held set (held) lacks, unless another caller replaced the set meanwhile
// or the last such fetch started less than MinRefreshInterval ago.
func (k *issuerKeys) refreshOnDemand(ctx context.Context, held *keySet, cause string) error {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.sem }()
	if cur := k.set.Load(); cur != held {
		return nil // fetched while this caller waited
	}
	now := k.v.clock.Now()
	if !k.lastDemand.IsZero() && now.Sub(k.lastDemand) < k.v.cfg.MinRefreshInterval {
		if held == nil {
			return fmt.Errorf("no key set held for issuer %q: %w", k.issuer.Issuer, errThrottled)
		}
		return errThrottled
	}
	k.lastDemand = now
	// The fetch does not end with the request: a client that sends an
	// unknown kid and hangs up must not cancel the one fetch the interval
	// allows. FetchTimeout still bounds it.
	return k.fetch(context.WithoutCancel(ctx), cause)
}

// refreshPeriodic fetches the key set for Run, outside the on-demand
// budget.
func (k *issuerKeys) refreshPeriodic(ctx context.Context) error {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-k.sem }()
	return k.fetch(ctx, CausePeriodic)
}

// fetch downloads and parses the key set, within FetchTimeout, and
// replaces the held one on success; on failure the held set stays. The new
// set keeps the held one's generation when the document is byte for byte
// the same, and takes the next one otherwise (which invalidates the tokens
// the cache holds for this issuer). Fetches of one issuer never overlap
// (sem), so the read and the store below do not race.
func (k *issuerKeys) fetch(ctx context.Context, cause string) error {
	ctx, cancel := context.WithTimeout(ctx, k.v.cfg.FetchTimeout)
	defer cancel()
	set, n, err := k.download(ctx)
	if err != nil {
		err = fmt.Errorf("fetching the key set of issuer %q: %w", k.issuer.Issuer, err)
		if k.v.cfg.Observer != nil {
			k.v.cfg.Observer.Observe(ctx, KeysFetchFailed{Name: k.v.cfg.Name, Issuer: k.issuer.Issuer, Cause: cause, Err: err})
		}
		return err
	}
	set.gen = 1
	if old := k.set.Load(); old != nil {
		set.gen = old.gen
		if old.digest != set.digest {
			set.gen++
		}
	}
	k.set.Store(set)
	if k.v.cfg.Observer != nil {
		k.v.cfg.Observer.Observe(ctx, KeysFetched{Name: k.v.cfg.Name, Issuer: k.issuer.Issuer, Cause: cause, Keys: n})
	}
	return nil
}

func (k *issuerKeys) download(ctx context.Context) (*keySet, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.issuer.JWKSURL, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.v.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.v.cfg.MaxJWKSBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(body)) > k.v.cfg.MaxJWKSBytes {
		return nil, 0, fmt.Errorf("key set larger than MaxJWKSBytes (%d)", k.v.cfg.MaxJWKSBytes)
	}
	kf, err := keyfunc.NewJWKSetJSON(body)
	if err != nil {
		return nil, 0, err
	}
	all, err := kf.Storage().KeyReadAll(ctx)
	if err != nil {
		return nil, 0, err
	}
	return &keySet{kf: kf, digest: sha256.Sum256(body)}, len(all), nil
}
