package gateway

// JWT is the document's token verification: the issuers whose JSON Web
// Tokens the routes with an auth section accept. The gateway builds one
// jwtauth.Verifier of it, shared by every route, runs it with the gateway
// (Run refreshes the key sets) and rebuilds it on reload only when this
// section changed (so the cached key sets survive other reloads).
type JWT struct {
	// Issuers lists the trusted issuers, at least one, distinct by iss.
	Issuers []JWTIssuer `json:"issuers"`
	// Leeway is the clock skew tolerated on "exp" and "nbf", in [1ms, 5m];
	// 0 means 30s.
	Leeway Duration `json:"leeway,omitempty"`
	// MaxTokenBytes bounds a token's length, in [256, 1048576]; 0 means
	// 8 KiB.
	MaxTokenBytes int `json:"max_token_bytes,omitempty"`
	// FetchTimeout bounds each fetch of a key set, in [1ms, 1m]; 0 means 5s.
	FetchTimeout Duration `json:"fetch_timeout,omitempty"`
	// MinRefreshInterval is the least time between two fetches of an
	// issuer's key set caused by unknown key ids, in [1s, 1h]; 0 means 30s.
	MinRefreshInterval Duration `json:"min_refresh_interval,omitempty"`
	// RefreshInterval is how often every key set is fetched while the
	// gateway runs, in [1m, 168h]; 0 means 1h.
	RefreshInterval Duration `json:"refresh_interval,omitempty"`
	// CacheSize bounds the verified tokens remembered
	// (jwtauth.Config.CacheSize), in [1, 1048576]; 0 means 4096 and -1
	// remembers none. A remembered token arriving again, byte for byte,
	// skips decoding and the signature check while it is within its exp
	// and nbf (checked on every request) and its issuer's key set has not
	// changed.
	CacheSize int `json:"cache_size,omitempty"`
}

// JWTIssuer is one trusted token issuer (jwtauth.Issuer).
type JWTIssuer struct {
	// Issuer is the exact "iss" of its tokens. Required.
	Issuer string `json:"iss"`
	// JWKSURL is the http or https URL of its key set. Required.
	JWKSURL string `json:"jwks_url"`
	// Algorithms is the allow-list of "alg" values its tokens may use
	// (RS256, ES256, EdDSA, HS256...). Required; "none" is never accepted.
	Algorithms []string `json:"algorithms"`
	// Audiences lists the "aud" values accepted, at least one. Required.
	Audiences []string `json:"audiences"`
}

// Auth is a route's authentication by the document's jwt section: the
// scopes and claims a token must carry, and the claims passed on as
// request headers. It runs first in the route, before its limits and
// policies.
type Auth struct {
	// Required, when true (the default), refuses a request without a
	// bearer token (401). When false, a request without an Authorization
	// header passes anonymously (with the forwarded-claim headers removed
	// all the same), and one with an Authorization header must pass like
	// any other: a valid bearer token, which is then removed unless
	// ForwardToken is set, or a 401.
	Required *bool `json:"required,omitempty"`
	// Scopes lists the scopes the token must hold, all of them (403
	// without one).
	Scopes []string `json:"scopes,omitempty"`
	// RequiredClaims lists claims the token must carry (401 without one).
	RequiredClaims []string `json:"required_claims,omitempty"`
	// ForwardClaims maps a claim to the request header that carries it to
	// the upstream ({sub: X-User-Id}). A copy of the header sent by the
	// client is always removed first.
	ForwardClaims map[string]string `json:"forward_claims,omitempty"`
	// ForwardToken, when true, sends the client's Authorization header on
	// to the upstream (and to the parts of a composed route that list it in
	// headers). By default the upstream gets the request without it once
	// the token is verified (jwtauth.RouteConfig.ForwardToken): it learns
	// who the caller is from ForwardClaims, and the bearer token stays at
	// the gateway. Set it for an upstream that checks the token itself or
	// passes it on.
	ForwardToken bool `json:"forward_token,omitempty"`
	// Realm, when set, is the realm of the WWW-Authenticate challenge.
	Realm string `json:"realm,omitempty"`
}

// Limits are a route's per-client rate limits (package clientlimit): each
// client, found by KeyBy, is held to every window at once. They run after
// the route's auth, so a client keyed by subject is the verified token's.
// The windows' state lives in memory, per gateway process, or in
// Config.RateLimitStore when set.
type Limits struct {
	// KeyBy lists where to find the client, first match wins: "subject"
	// (the issuer and subject of the token auth verified; needs auth),
	// "api_key" (the header APIKeyHeader, hashed) and "ip" (the client's
	// address, behind Config.Proxies). Empty means ["ip"]; a request none
	// applies to counts against one shared key.
	KeyBy []string `json:"key_by,omitempty"`
	// APIKeyHeader is the header "api_key" reads; "" means X-API-Key.
	APIKeyHeader string `json:"api_key_header,omitempty"`
	// Windows are the limits, 1 to 8, shortest first.
	Windows []LimitWindow `json:"windows"`
	// Cost is the permits a request of this route takes from each window,
	// in [1, 1000]; 0 means 1.
	Cost int `json:"cost,omitempty"`
	// FailClosed answers 503 when the store fails; by default the request
	// is served.
	FailClosed bool `json:"fail_closed,omitempty"`
}

// LimitWindow is one window of Limits: at most Limit permits per Period for
// each client.
type LimitWindow struct {
	// Name names the window in the RateLimit headers; "" means
	// "<limit>-per-<seconds>s". Unique within the route.
	Name string `json:"name,omitempty"`
	// Limit is the permits per Period, in [1, 1e9]; required.
	Limit int `json:"limit"`
	// Period is a whole number of seconds, in [1s, 720h]; required.
	Period Duration `json:"period"`
}
