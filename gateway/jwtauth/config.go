package jwtauth

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Issuer is one token issuer the Verifier trusts: the exact "iss" value
// its tokens carry, where its signing keys are published, the algorithms
// its tokens may be signed with and the audiences they may be meant for.
type Issuer struct {
	// Issuer is the exact value of the tokens' "iss" claim. Required, and
	// distinct among Config.Issuers.
	Issuer string
	// JWKSURL is the http or https URL of the issuer's JSON Web Key Set
	// (RFC 7517). Required.
	JWKSURL string
	// Algorithms is the explicit allow-list of the "alg" values (RFC 7518
	// names: RS256, ES256, EdDSA, HS256...) the issuer's tokens may use.
	// Required and never defaulted: "none" is refused, and a token signed
	// with an algorithm not listed is refused before any key is looked up.
	Algorithms []string
	// Audiences lists the "aud" values accepted: a token must name at
	// least one of them. Required: a token meant for another service is
	// refused.
	Audiences []string
}

// Config configures a Verifier. The zero value of every field but Issuers
// means the default its comment names; Issuers is required.
type Config struct {
	// Issuers lists the trusted issuers, at least one. A token whose "iss"
	// is none of them is refused.
	Issuers []Issuer
	// Leeway is the clock skew tolerated on "exp" and "nbf", in (0, 5m];
	// 0 means DefaultLeeway (30 s) and NoLeeway means none.
	Leeway time.Duration
	// MaxTokenBytes bounds the length of an accepted token, in [256, 1 MiB];
	// 0 means 8 KiB. A longer one is refused before it is decoded.
	MaxTokenBytes int
	// FetchTimeout bounds each fetch of a key set, in (0, 1m]; 0 means 5 s.
	// Only a request whose key is not held waits for a fetch: for the one
	// in flight, then at most for one of its own, so for at most twice
	// this long (or until its context ends).
	FetchTimeout time.Duration
	// MinRefreshInterval is the least time between two fetches of one
	// issuer's key set caused by tokens whose "kid" is unknown, in [1 s,
	// 1 h]; 0 means 30 s. However many such tokens arrive, an issuer's key
	// set is fetched at most once per interval on their account.
	MinRefreshInterval time.Duration
	// RefreshInterval is how often Run fetches every issuer's key set, in
	// [1 m, 7 d]; 0 means an hour.
	RefreshInterval time.Duration
	// MaxJWKSBytes bounds the size of a key set document, in [1 KiB, 16 MiB];
	// 0 means 1 MiB.
	MaxJWKSBytes int64
	// CacheSize bounds the number of verified tokens the Verifier
	// remembers, in [1, 1048576]; 0 means DefaultCacheSize (4096) and
	// NoCache remembers none. A remembered token, when it arrives again
	// byte for byte the same, is accepted without decoding or a signature
	// check, but only while it is within its "exp" and "nbf" (with
	// Leeway, by Clock, checked on every use: an expired one is refused
	// and forgotten) and its issuer's key set is the one it was verified
	// with (a fetch that brings a different key set, by Run or for an
	// unknown kid, makes every token of that issuer be verified again).
	// Only tokens that passed every check are remembered. When full, an
	// insert evicts an entry not used recently (an approximate LRU per
	// shard). Each entry holds the token and its claims: budget
	// CacheSize × (token length + decoded claims) of memory.
	CacheSize int
	// Client fetches the key sets; nil means a client of its own with no
	// overall timeout (each fetch has FetchTimeout).
	Client *http.Client
	// Clock is the time source for token times and refresh intervals; nil
	// means clock.System.
	Clock clock.Clock
	// Name identifies the Verifier in its events. Optional.
	Name string
	// Observer receives KeysFetched and KeysFetchFailed events. Nil observes
	// nothing.
	Observer bulwark.Observer
}

// The defaults of zero Config fields.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMaxTokenBytes      = 8 << 10
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultRefreshInterval    = time.Hour
	DefaultMaxJWKSBytes       = 1 << 20
	DefaultCacheSize          = 4096
)

// NoCache, as Config.CacheSize, turns the verified-token cache off: every
// token is decoded and its signature checked on every request.
const NoCache = -1

// NoLeeway, as Config.Leeway, tolerates no clock skew at all.
const NoLeeway time.Duration = -1

// DefaultConfig returns the defaults a zero Config stands for (with no
// issuers, which the caller must add).
func DefaultConfig() Config {
	return Config{
		Leeway:             DefaultLeeway,
		MaxTokenBytes:      DefaultMaxTokenBytes,
		FetchTimeout:       DefaultFetchTimeout,
		MinRefreshInterval: DefaultMinRefreshInterval,
		RefreshInterval:    DefaultRefreshInterval,
		MaxJWKSBytes:       DefaultMaxJWKSBytes,
		CacheSize:          DefaultCacheSize,
	}
}

// withDefaults fills in the zero fields and checks every setting; errors
// name the field and its range.
func (c Config) withDefaults() (Config, error) {
	c.MaxTokenBytes = cmp.Or(c.MaxTokenBytes, DefaultMaxTokenBytes)
	c.FetchTimeout = cmp.Or(c.FetchTimeout, DefaultFetchTimeout)
	c.MinRefreshInterval = cmp.Or(c.MinRefreshInterval, DefaultMinRefreshInterval)
	c.RefreshInterval = cmp.Or(c.RefreshInterval, DefaultRefreshInterval)
	c.MaxJWKSBytes = cmp.Or(c.MaxJWKSBytes, DefaultMaxJWKSBytes)
	c.CacheSize = cmp.Or(c.CacheSize, DefaultCacheSize)
	switch {
	case c.Leeway == 0:
		c.Leeway = DefaultLeeway
	case c.Leeway == NoLeeway:
		c.Leeway = 0
	case c.Leeway < 0 || c.Leeway > 5*time.Minute:
		return c, fmt.Errorf("jwtauth: Config.Leeway must be jwtauth.NoLeeway or in (0, 5m] (0 means %v), got %v", DefaultLeeway, c.Leeway)
	}
	if c.MaxTokenBytes < 256 || c.MaxTokenBytes > 1<<20 {
		return c, fmt.Errorf("jwtauth: Config.MaxTokenBytes must be in [256, 1048576] (0 means %d), got %d", DefaultMaxTokenBytes, c.MaxTokenBytes)
	}
	if c.FetchTimeout <= 0 || c.FetchTimeout > time.Minute {
		return c, fmt.Errorf("jwtauth: Config.FetchTimeout must be in (0, 1m] (0 means %v), got %v", DefaultFetchTimeout, c.FetchTimeout)
	}
	if c.MinRefreshInterval < time.Second || c.MinRefreshInterval > time.Hour {
		return c, fmt.Errorf("jwtauth: Config.MinRefreshInterval must be in [1s, 1h] (0 means %v), got %v", DefaultMinRefreshInterval, c.MinRefreshInterval)
	}
	if c.RefreshInterval < time.Minute || c.RefreshInterval > 7*24*time.Hour {
		return c, fmt.Errorf("jwtauth: Config.RefreshInterval must be in [1m, 168h] (0 means %v), got %v", DefaultRefreshInterval, c.RefreshInterval)
	}
	if c.MaxJWKSBytes < 1<<10 || c.MaxJWKSBytes > 16<<20 {
		return c, fmt.Errorf("jwtauth: Config.MaxJWKSBytes must be in [1024, 16777216] (0 means %d), got %d", DefaultMaxJWKSBytes, c.MaxJWKSBytes)
	}
	if c.CacheSize != NoCache && (c.CacheSize < 1 || c.CacheSize > 1<<20) {
		return c, fmt.Errorf("jwtauth: Config.CacheSize must be jwtauth.NoCache or in [1, 1048576] (0 means %d), got %d", DefaultCacheSize, c.CacheSize)
	}
	if len(c.Issuers) == 0 {
		return c, fmt.Errorf("jwtauth: Config.Issuers must list at least one issuer, got none")
	}
	seen := make(map[string]bool, len(c.Issuers))
	for i, is := range c.Issuers {
		if err := is.check(fmt.Sprintf("jwtauth: Config.Issuers[%d]", i)); err != nil {
			return c, err
		}
		if seen[is.Issuer] {
			return c, fmt.Errorf("jwtauth: Config.Issuers[%d].Issuer %q is listed twice", i, is.Issuer)
		}
		seen[is.Issuer] = true
	}
	return c, nil
}

// supported lists the algorithms an allow-list may name.
var supported = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
	"HS256": true, "HS384": true, "HS512": true,
}

func (is Issuer) check(prefix string) error {
	if is.Issuer == "" {
		return fmt.Errorf("%s.Issuer must not be empty", prefix)
	}
	u, err := url.Parse(is.JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s.JWKSURL must be an http or https URL, got %q", prefix, is.JWKSURL)
	}
	if len(is.Algorithms) == 0 {
		return fmt.Errorf("%s.Algorithms must list at least one algorithm (RS256, ES256, EdDSA...), got none", prefix)
	}
	for j, a := range is.Algorithms {
		if !supported[a] {
			return fmt.Errorf("%s.Algorithms[%d] must be one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, HS256/384/512, got %q", prefix, j, a)
		}
	}
	if len(is.Audiences) == 0 {
		return fmt.Errorf("%s.Audiences must list at least one audience, got none", prefix)
	}
	for j, a := range is.Audiences {
		if a == "" {
			return fmt.Errorf("%s.Audiences[%d] must not be empty", prefix, j)
		}
	}
	return nil
}
