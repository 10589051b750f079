// Package console is bulwark's operations console: an http.Handler that
// serves a JSON API and one web page showing, live, the state of a
// service's resilience machinery, and lets an operator act on it.
//
// It shows every policy of a policyset.Set with its parts' live state (a
// breaker's state and window, a bulkhead's permits in flight, a limiter's,
// timeout's, hedge's and chaos injector's settings) and the rates of their
// events; each outbox's backlog, lag and dead letters; the sagas that need
// attention; and each projection's lag and parked event. An operator can
// force a breaker open or reset it, change a policy's settings (as an
// edited document given to policyset.Set.Apply, taken whole or not at
// all), replay or discard a dead letter, resume or abandon a saga, and
// skip, resume or rebuild a projection.
//
// Mount it under a prefix with http.StripPrefix; the page uses relative
// addresses, so the prefix must end in a slash:
//
//	mux.Handle("/ops/", http.StripPrefix("/ops", c))
//
// # API
//
// Reads (GET), open to anyone who can reach the handler:
//
//	/                           the page (embedded HTML, CSS and JavaScript)
//	/api/state                  everything, as one JSON State
//	/api/events                 the State again each time it changes, as
//	                            server-sent events named "state"
//	/api/session                {"read_only": bool, "csrf": token}; sets the
//	                            CSRF cookie (see Security)
//	/api/policies/{name}/settings  the policy's part of the document
//
// Actions (POST), absent in read-only mode:
//
//	/api/policies/{name}/breaker/force-open
//	/api/policies/{name}/breaker/reset
//	/api/policies/{name}/settings               body: the policy's Spec
//	/api/outboxes/{name}/dead-letters/{id}/replay
//	/api/outboxes/{name}/dead-letters/{id}/discard
//	/api/sagas/{name}/{id}/resume
//	/api/sagas/{name}/{id}/abandon              body: {"reason": "..."}
//	/api/projections/{name}/{projection}/skip
//	/api/projections/{name}/{projection}/resume
//	/api/projections/{name}/{projection}/rebuild
//	/api/components/{name}/{action}             body: {"target": "..."}
//
// An action answers 200 with {"ok": true} or an error status with
// {"error": "..."}: 400 for what the request got wrong (settings the set
// refuses, with the set's error naming the field), 404 for an unknown
// target, 409 when the target refused (a saga that does not need
// attention, a projection that is not parked).
//
// A settings edit replaces the policy's part of the document the set last
// applied and applies the whole, so the other policies keep their
// settings; it lasts until the next document the set's Source delivers,
// if it follows one, which is where a lasting change belongs.
//
// # Security
//
// Every request whose method is not GET or HEAD passes one guard before it
// is routed, so no action can be added without it:
//
//  1. Cross-origin requests are refused (403) by net/http's
//     CrossOriginProtection: a browser's Sec-Fetch-Site header must say
//     same-origin (or none), or else the Origin header must name the host
//     (Config.TrustedOrigins adds others).
//  2. A CSRF token is required (403), by double submit: GET /api/session
//     sets the token in an HttpOnly, SameSite=Strict cookie and returns it
//     in the body; the page sends it back in the X-CSRF-Token header, and
//     the two must be equal (compared in constant time). A page of another
//     site can neither read the token nor set the header on a request it
//     forges.
//  3. The operator is authenticated (401) by Config.Authenticator, by
//     default against Config.Tokens, each an operator's bearer token
//     (Authorization: Bearer <token>), compared in constant time. With
//     neither, no request is authenticated and every action is refused.
//
// Every action and every refusal is written to Config.AuditLog: who, what,
// on what target, and the outcome. Every answer carries a
// Content-Security-Policy that lets the page load only its own assets and
// talk only to its own origin, and forbids framing it. The page keeps the
// operator's token in the tab's sessionStorage and renders every value as
// text, never as markup.
//
// With Config.ReadOnly the handler has no action at all (any method but
// GET and HEAD is 404), for exposure to everyone who may look. The JSON
// and the events never carry a secret: no operator token, no message
// payload or header, no saga data; an event or error text is shown as its
// component reported it.
//
// # Extension
//
// Anything else with state worth showing and actions worth taking (the
// gateway's routes and endpoint health) is a Component, registered by name
// in Config.Components: its Snapshot is shown as it is, and its actions are
// offered under /api/components/{name}/{action}, behind the same guard.
//
// # Cost
//
// The handler starts no goroutine of its own and adds nothing to a
// policy's calls: it reads their state when a page or an event stream asks
// (each stream once per Config.Interval). It encodes a policy's settings
// once per document the set applies (a Set never changes a document it
// holds) and reuses the JSON at every read. The console is also a
// bulwark.Observer: give it to the components' Config.Observer (with
// bulwark.Observers, beside a logger) and it counts their events to show
// rates. benchmarks/console/instructions counts, with callgrind, what
// both cost a service; benchmarks/results/console-instructions.txt has
// the figures.
package console
