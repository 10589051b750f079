// Package jwtauth authenticates requests by JSON Web Token (RFC 7519) bearer
// tokens (RFC 6750), as net/http middleware a gateway puts in front of each
// route, or any server in front of its handlers.
//
// A Verifier holds the trusted issuers and their key sets; a Route is the
// middleware of one route, built from a Verifier and the route's
// RouteConfig (the claims and scopes it requires, the claims it forwards):
//
//	v, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
//		Issuer:     "https://id.example.com",
//		JWKSURL:    "https://id.example.com/.well-known/jwks.json",
//		Algorithms: []string{"RS256"},
//		Audiences:  []string{"orders-api"},
//	}}})
//	...
//	go v.Run(ctx) // periodic key set refresh (optional)
//	orders, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{
//		Scopes:        []string{"orders:read"},
//		ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}},
//	})
//	mux.Handle("GET /orders/", orders.Handler(proxy))
//
// # Guarantees
//
// A request reaches the next handler only if it came with exactly one
// "Authorization: Bearer" token (which the next handler does not get,
// unless RouteConfig.ForwardToken: see below) that:
//
//   - is at most Config.MaxTokenBytes long and a well-formed compact JWS;
//   - names in "iss" one of Config.Issuers, compared exactly;
//   - is signed with an algorithm in that issuer's Algorithms, an explicit
//     allow-list without default ("none" can never be listed, and an
//     algorithm is checked before any key is looked up);
//   - verifies with a key of that issuer's key set: the key the token's
//     "kid" names (a key whose own "alg" differs from the token's is
//     refused, and a key's type must fit the algorithm, so an RSA public
//     key is never taken as an HMAC secret);
//   - carries "exp", and is used from nbf−Leeway (inclusive) until
//     exp+Leeway (exclusive), by Config.Clock;
//   - names in "aud" at least one of the issuer's Audiences;
//   - carries the route's RequiredClaims and holds its Scopes.
//
// These hold for a token answered from the cache below as well.
//
// Otherwise the request is answered 401 (403 for a missing scope) with a
// WWW-Authenticate challenge and an application/problem+json body (see
// Route). Before anything else the Route deletes, from the request, every
// header it forwards claims in, so a client cannot forge them; a request
// that passes gets them from its token only.
//
// # The token is not forwarded
//
// A request that passes reaches the next handler without its
// Authorization header, as with Envoy's jwt_authn, whose "forward" is off
// unless set: the upstream learns who the caller is from the forwarded
// claims (RouteConfig.ForwardClaims) and, in the same process, from the
// Principal in the context (FromContext); the bearer token, a credential
// an upstream could replay against other services of the same audience,
// stays at the edge, and the upstream hop does not carry its few hundred
// bytes (for a gateway, parsing and writing them again is a large part of
// what a token check costs once the verified-token cache below answers).
// RouteConfig.ForwardToken keeps the header, for an upstream that verifies
// the token itself or passes it on. The Route removes the header from a copy of the request
// (and of its header): the request the caller handed to ServeHTTP keeps
// it.
//
// # Key sets
//
// An issuer's key set (JWKS, RFC 7517) is fetched from its JWKSURL when a
// token first needs it, by Run every Config.RefreshInterval, and when a token
// names a "kid" the held set lacks (a key rotation) — but on account of
// tokens at most once per Config.MinRefreshInterval per issuer, however many
// unknown kids arrive: a flood of forged kids costs the issuer at most one
// fetch per interval, and is refused from the cache otherwise. One fetch
// runs at a time per issuer, bounded by Config.FetchTimeout and the size
// Config.MaxJWKSBytes; a request waits for it only when it needs a key the
// held set lacks. A failed fetch (the endpoint down, slow, or serving
// garbage) keeps the held set: tokens with known keys go on working.
//
// The bound has a price: anyone can spend an interval's fetch with a token
// naming a made-up kid, so a token signed with a key the issuer started
// using within that interval may be refused until the next fetch (at most
// MinRefreshInterval later, or Run's next refresh). Issuers that publish a
// new key before they sign with it, as key rotation practice asks, are not
// affected.
//
// # Verified-token cache
//
// An RSA signature check costs more than the rest of a gateway's request,
// so the Verifier remembers the tokens it accepted, as Envoy's jwt_authn
// does with jwt_cache_config: at most Config.CacheSize of them (4096 by
// default; NoCache turns the cache off). A token that arrives again, the
// same string byte for byte (the whole token is the key, no digest of it),
// is accepted without being decoded or its signature checked, and yields
// the same *Principal, provided that:
//
//   - it is within its "exp" and "nbf", with Config.Leeway, by
//     Config.Clock now: these are checked on every use, and an expired
//     token is refused ("the token has expired") and forgotten;
//   - its issuer's key set is the one its signature was checked with: a
//     fetch (by Run, on first use or for an unknown kid) that brings a
//     document different from the one held starts a new generation of
//     that issuer's key set, and its tokens remembered under an older one
//     are verified in full again (so a key removed from the set takes its
//     tokens with it at the next fetch). A fetch of the same document
//     keeps them.
//
// "iss", "alg", "aud", "crit" and the key's fit were checked when the
// token was remembered, by the same Verifier, whose issuers and settings
// never change. Only tokens that passed every check are remembered: a
// refused token (forged, expired, for another audience, or naming an
// unknown kid) is never, so refused tokens cannot fill the cache or be
// planted in it, and a flood of them costs what it costs without a cache.
// A flood of distinct valid tokens evicts others: the cache is split in up
// to 32 shards, each a map under its own read-write lock, and a full shard
// evicts the first entry the hand of its CLOCK finds unused since the hand
// last passed (an approximation of least recently used). The route's
// RequiredClaims and Scopes are checked on every request, cached or not.
//
// # Why golang-jwt/jwt/v5 with MicahParks/keyfunc/v3
//
// Both candidates, golang-jwt/jwt/v5 with MicahParks/keyfunc/v3 (and its
// jwkset) and lestrrat-go/jwx/v3, are well kept and verify the same
// algorithms; the choice came down to fit:
//
//   - API fit. golang-jwt parses in one call with options (valid methods,
//     leeway, a time function for the injectable clock, exp required) and
//     asks a Keyfunc for the key after decoding the claims, so the issuer's
//     allow-list and key set are chosen from the token's own "iss" in one
//     pass. jwx/v3 spreads the same work over jwt, jws and jwk option sets
//     and brings more dependencies (httprc, its option and encoding
//     packages) into the gateway module.
//   - Algorithm allow-listing. golang-jwt refuses any algorithm outside
//     WithValidMethods before calling the Keyfunc, and a key of the wrong
//     type for the algorithm; keyfunc refuses a JWK whose "alg" differs from
//     the token's. jwx matches the algorithm to the key too, but an allow-list
//     per issuer needs a custom key provider there as well.
//   - JWKS caching and refresh. Both libraries fetch in a goroutine of their
//     own, started when the cache is made (jwx's jwk.Cache through httprc,
//     with per-URL minimum and maximum intervals; keyfunc's HTTP storage with
//     a refresh interval and a golang.org/x/time/rate limiter on unknown
//     kids that callers wait on). Neither follows bulwark's contract: a
//     constructor that starts nothing, Run and Close, an injectable clock,
//     events to a bulwark.Observer. So this package fetches the key set
//     itself (the bounded refresh above, tested with a fake clock) and uses
//     keyfunc only to turn the fetched document into a jwt.Keyfunc, which
//     keyfunc.NewJWKSetJSON does without any goroutine. jwx has no such
//     small seam for a document fetched elsewhere that also yields a
//     golang-jwt Keyfunc.
//
// # Configuration
//
// Config.Issuers is required (each with its Issuer, JWKSURL, Algorithms and
// Audiences, none defaulted); every other zero field takes the default its
// comment names (DefaultConfig spells them out). New refuses an invalid
// setting with an error naming the field and its range. RouteConfig{}
// accepts any valid token and forwards nothing: no claim, not the token.
// The zero Verifier and Route are not usable: their methods panic.
//
// # Events
//
// A Verifier reports KeysFetched and KeysFetchFailed to Config.Observer; a
// Route reports Rejected, for each refused request, to
// RouteConfig.Observer.
//
// # Later middleware
//
// The Route puts the caller's Principal (subject, issuer, scopes, claims)
// in the request's context: FromContext reads it, Subject its subject, the
// key a per-client rate limit counts by (package clientlimit).
package jwtauth
