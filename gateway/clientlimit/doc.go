// Package clientlimit limits each client's request rate at a gateway, as
// net/http middleware built per route: the client is the subject of its
// JWT (behind a jwtauth Route), its API key, or its IP address behind
// trusted proxies; each client is held to several windows at once (10 a
// second and 10,000 a day, say), each a ratelimit.Keyed limiter in memory
// or in a shared store (Redis through adapters/redis/redisratelimit, so
// that every gateway process enforces one limit); and each route says how
// many permits its requests cost.
//
//	perSecond, _ := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 10, Period: time.Second}})
//	perDay, _ := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 10_000, Period: 24 * time.Hour}})
//	search, err := clientlimit.New(clientlimit.Config{
//		Windows: []clientlimit.Window{{Name: "burst", Limiter: perSecond}, {Name: "daily", Limiter: perDay}},
//		KeyBy:   []clientlimit.KeySource{clientlimit.BySubject, clientlimit.ByClientIP},
//		Cost:    5, // a search costs five ordinary requests
//	})
//	mux.Handle("GET /search", auth.Handler(search.Handler(proxy)))
//
// # Guarantees
//
// A request reaches the next handler only when every window permitted its
// Cost for its client's key; Limiters that share a Window's Keyed (several
// routes, or several processes through a shared store) share each client's
// budget in it. Windows are asked in order and Cost permits are taken one
// at a time, so a refused request may have used permits of the windows
// before the one that refused it, or of its own window up to what was
// left: the limit errs on the strict side and is never exceeded. A
// client cannot pick its key: X-Forwarded-For and Forwarded are read only
// from the trusted proxies of Config.Proxies (bulwarkhttp.Proxies), an API
// key is hashed before it reaches a store, and a subject is read only from
// what a jwtauth Route verified.
//
// # Headers
//
// The RateLimit and RateLimit-Policy fields follow the IETF httpapi
// working group's draft "RateLimit header fields for HTTP", checked
// against draft-ietf-httpapi-ratelimit-headers-09 (March 2025; the tracker
// lists -10 as the newest revision): Structured Field lists of items named
// by a quoted string.
//
//	RateLimit-Policy: "burst";q=10;w=1, "daily";q=10000;w=86400
//	RateLimit: "burst";r=0;t=1
//
// RateLimit-Policy (q: the window's limit in permits, w: its period in
// seconds) goes with every response the Limiter passes or writes.
// RateLimit goes with a 429, naming the window that refused, with r=0 and t
// the seconds until the client's next permit, the same value as
// Retry-After. Permitted responses carry no RateLimit: a ratelimit.Store
// reports whether a call is permitted and when the next would be, not how
// many permits remain, so the Limiter has no exact r to send, and the
// draft's r is not optional.
//
// # Configuration
//
// Config.Windows is required; every other zero field takes the default its
// comment names (DefaultConfig): keyed by the client's IP address with no
// trusted proxy, a cost of 1, requests served when a limiter's store
// fails. New refuses an invalid setting with an error naming the field.
// The zero Limiter is not usable: its methods panic.
//
// # Events
//
// Config.Observer receives Limited for each refused request and
// LimiterFailed for each failure of a window's limiter. The Keyed limiters
// report their own ratelimit.Rejected events to their own observers.
package clientlimit
