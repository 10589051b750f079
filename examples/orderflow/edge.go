package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway"
)

// Headers between the gateway and the services.
const (
	// subjectHeader carries the subject of the token the gateway verified
	// (forward_claims); the gateway removes any copy a client sent.
	subjectHeader = "X-Subject"
	// historyKeyHeader is the sticky key of the history split: the shop
	// sends a key of its own with each history request.
	historyKeyHeader = "X-History-Key"
	// servedByHeader names the server that answered a history request.
	servedByHeader = "X-Served-By"
)

// The gateway's limit on POST /orders, per client (the token's subject): a
// token bucket of ordersLimit permits a second, with a burst of as many.
const ordersLimit = 3

// historyWeights is the share of history requests, in percent, the
// gateway sends to the orders service in each phase; the rest go to the
// monolith.
var historyWeights = []int{0, 25, 50, 100}

// edgeDocument is the gateway's document: %[1]s is the issuer's URL, %[2]d
// the history weight, %[3]d the orders limit. Every route passes the
// client's token on (forward_token), because each service checks it again
// (auth.go). The upstreams are found in the flow's registry. Payments and
// inventory have one endpoint each, which the pool's outlier ejection would
// take out for 30s (doubling) after 5 failures in a row: with 1000 the
// outage is the compose parts' fallback's business, and the details are
// whole again as soon as the service is.
const edgeDocument = `
jwt:
  issuers:
    - {iss: "%[1]s", jwks_url: "%[1]s/jwks.json", algorithms: [RS256], audiences: [` + audience + `]}
upstreams:
  orders:    {discovery: registry}
  payments:  {discovery: registry, outlier: {consecutive_failures: 1000}}
  inventory: {discovery: registry, outlier: {consecutive_failures: 1000}}
  monolith:  {discovery: registry}
routes:
  - name: place-order
    match: "POST /orders"
    upstream: orders
    auth: {scopes: [` + scopeWrite + `], forward_claims: {sub: ` + subjectHeader + `}, forward_token: true}
    limits: {key_by: [subject], windows: [{name: orders, limit: %[3]d, period: 1s}]}
  - name: order-details
    match: "GET /orders/{id}/details"
    auth: {scopes: [` + scopeRead + `], forward_claims: {sub: ` + subjectHeader + `}, forward_token: true}
    compose:
      deadline: 2s
      parts:
        - {key: order, upstream: orders, path: "/orders/{id}", headers: [Authorization, ` + subjectHeader + `], timeout: 1s}
        - {key: payment, upstream: payments, path: "/orders/{id}/charge", headers: [Authorization, ` + subjectHeader + `], timeout: 800ms,
           on_error: fallback, fallback: {state: unknown}}
        - {key: shipping, upstream: inventory, path: "/orders/{id}/shipment", headers: [Authorization, ` + subjectHeader + `], timeout: 800ms,
           on_error: fallback, fallback: {state: unknown}}
  - name: history
    match: "GET /history/"
    upstream: monolith
    strip_prefix: /history
    rewrite_prefix: /clients
    auth: {scopes: [` + scopeRead + `], forward_claims: {sub: ` + subjectHeader + `}, forward_token: true}
    strangler: {new: orders, weight: %[2]d, sticky_by: header, sticky_name: ` + historyKeyHeader + `}
`

func parseEdgeDocument(issuerURL string, weight int) (*gateway.Document, error) {
	return gateway.Parse(edgeDocumentText(issuerURL, weight))
}

// edgeDocumentText is the gateway's document with the history weight
// weight, as the config source holds it.
func edgeDocumentText(issuerURL string, weight int) []byte {
	return fmt.Appendf(nil, edgeDocument, issuerURL, weight, ordersLimit)
}

// edge is the gateway in front of the services, on its own loopback
// server, with what it saw: the requests it refused, the ones its limit
// let through and the ones it answered 429.
type edge struct {
	gw     *gateway.Gateway
	server *server
	issuer string
	story  *story
	count  *counters
	stop   context.CancelFunc
	ran    chan error

	phase   atomic.Int32 // the phase whose history weight is in force
	weight  int
	doc     slot       // where the gateway's document lives
	reloads chan error // each reload of the gateway: nil, or why the document was refused

	mu       sync.Mutex
	admitted map[string][]time.Time // per client: when POST /orders went through the limit
	limited  map[string]int         // per client: POST /orders answered 429
	told     map[string]time.Time   // when each client's 429 was last told
}

func startEdge(ctx context.Context, reg discovery.Resolver, issuerURL string, doc slot, tr *tracing, story *story, count *counters) (*edge, error) {
	first, err := parseEdgeDocument(issuerURL, historyWeights[0])
	if err != nil {
		return nil, err
	}
	if err := doc.put(ctx, edgeDocumentText(issuerURL, historyWeights[0])); err != nil {
		return nil, fmt.Errorf("writing the gateway's document to %s: %w", doc.where, err)
	}
	e := &edge{issuer: issuerURL, doc: doc, story: story, count: count, weight: historyWeights[0],
		reloads:  make(chan error, 16),
		admitted: map[string][]time.Time{}, limited: map[string]int{}, told: map[string]time.Time{}}
	gw, err := gateway.New(first, gateway.Config{
		Name:      "edge",
		Resolvers: map[string]discovery.Resolver{"registry": reg},
		// The gateway follows its document in the config source: each
		// version is checked as a whole and swapped in atomically, or
		// refused with the routes left as they were.
		Source:   doc.source,
		Observer: bulwark.ObserverFunc(e.observe),
		Logger:   slog.New(slog.DiscardHandler),
		// A span per request and per upstream attempt, in the trace the
		// shop's request carries, and that trace passed on upstream.
		TracerProvider: tr.provider("gateway"),
		Propagator:     tr.propagator(),
	})
	if err != nil {
		return nil, err
	}
	e.gw = gw
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stop, e.ran = stop, make(chan error, 1)
	go func() { e.ran <- gw.Run(runCtx) }()
	if e.server, err = serve(http.HandlerFunc(e.serveHTTP)); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// serveHTTP is the gateway, and a note of what it did with each order.
func (e *edge) serveHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	rec := &statusWriter{ResponseWriter: w}
	e.gw.ServeHTTP(rec, r)
	switch {
	case (rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden) && rec.Header().Get("WWW-Authenticate") != "":
		e.count.refused.Add(1) // by the gateway's auth, not by a service
	case r.Method == http.MethodPost && r.URL.Path == "/orders":
		// The request passed auth, so its token is valid: its subject can
		// be read without verifying it again.
		client := unverifiedSubject(r)
		e.mu.Lock()
		defer e.mu.Unlock()
		if rec.status != http.StatusTooManyRequests {
			e.admitted[client] = append(e.admitted[client], at)
			return
		}
		e.limited[client]++
		e.count.limited.Add(1)
		if time.Since(e.told[client]) > time.Second {
			e.told[client] = time.Now()
			e.story.say("gateway: client %s is over its limit of %d orders a second: 429, Retry-After %ss (%s)",
				client, ordersLimit, rec.Header().Get("Retry-After"), rec.Header().Get("RateLimit"))
		}
	}
}

// unverifiedSubject reads the "sub" of r's bearer token without checking
// it: only for requests the gateway has verified.
func unverifiedSubject(r *http.Request) string {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct{ Sub string }
	_ = json.Unmarshal(payload, &c)
	return c.Sub
}

// setPhase makes phase i's history weight the gateway's: the operator
// writes the document with the new weight to the config source, and the
// gateway, which follows it, reloads. setPhase waits for that reload and
// tells the story.
func (e *edge) setPhase(ctx context.Context, i int) error {
	w := historyWeights[min(i, len(historyWeights)-1)]
	if w != e.weight {
		for len(e.reloads) > 0 { // earlier reloads (the source's first delivery)
			<-e.reloads
		}
		if err := e.doc.put(ctx, edgeDocumentText(e.issuer, w)); err != nil {
			return fmt.Errorf("writing the gateway's document to %s: %w", e.doc.where, err)
		}
		select {
		case err := <-e.reloads:
			if err != nil {
				return fmt.Errorf("the gateway refused its new document: %w", err)
			}
		case <-time.After(10 * time.Second):
			return fmt.Errorf("the gateway did not reload from %s within 10s", e.doc.where)
		case <-ctx.Done():
			return ctx.Err()
		}
		e.story.say("gateway: reloaded from %s without a restart; the order history's strangler weight goes from %d%% to %d%%: that share of history requests now goes to the orders service, the rest to the monolith", e.doc.where, e.weight, w)
		e.weight = w
	}
	e.phase.Store(int32(i))
	return nil
}

// observe hands the gateway's reloads to setPhase.
func (e *edge) observe(_ context.Context, ev bulwark.Event) {
	var err error
	switch ev := ev.(type) {
	case gateway.Reloaded:
	case gateway.ReloadFailed:
		err = ev.Err
	default:
		return
	}
	select {
	case e.reloads <- err:
	default: // nobody waits for this one
	}
}

// ready waits until the gateway routes to the services (its pools learn
// their endpoints once Run runs), by asking for a history the client may
// not read: the service's own 403 (with servedByHeader) shows that the
// request went through auth and reached it.
func (e *edge) ready(ctx context.Context, token string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.server.url+"/history/nobody/orders", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden && resp.Header.Get(servedByHeader) != "" {
				http.DefaultClient.CloseIdleConnections()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not route to the services within 10s (last: %v)", err)
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

func (e *edge) close() {
	if e.server != nil {
		e.server.close()
	}
	e.stop()
	_ = e.gw.Close(context.Background())
	<-e.ran
}

// fronted is what each handler the gateway fronts sits behind: a request
// without the subject the gateway forwards did not come through the
// gateway's auth; it is counted and refused. So are requests carrying one
// of the shop's probe keys (every probe must have been refused before).
func fronted(count *counters, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get(bulwarkhttp.HeaderIdempotencyKey), probePrefix) {
			count.probesReached.Add(1)
		}
		if r.Header.Get(subjectHeader) == "" {
			count.unauthenticated.Add(1)
			problem(w, http.StatusUnauthorized, "no authenticated subject: requests come through the gateway")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// probePrefix starts the idempotency keys of the shop's bad requests.
const probePrefix = "probe-"

// probe is one bad request the shop sent through the gateway, and the
// status it got.
type probe struct {
	name   string
	status int
}

// probe sends the bad requests through the gateway: no token, a subject
// header without a token, and each forgery. Each must be refused (401 or
// 403) before it reaches the order service.
func (c *shop) probe(ctx context.Context, forgeries map[string]string) {
	type attempt struct {
		name, bearer string
		header       [2]string
	}
	attempts := []attempt{
		{name: "no token"},
		{name: "forged " + subjectHeader + " header without a token", header: [2]string{subjectHeader, "web"}},
	}
	for _, name := range sortedKeys(forgeries) {
		attempts = append(attempts, attempt{name: name, bearer: forgeries[name], header: [2]string{subjectHeader, "web"}})
	}
	var refused []string
	for i, a := range attempts {
		body := strings.NewReader(`{"sku":"widget","qty":1,"cents":1500,"card":"4242-4242-4242-4242"}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/orders", body)
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, fmt.Sprintf("%s%d", probePrefix, i+1))
		if a.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+a.bearer)
		}
		if a.header[0] != "" {
			req.Header.Set(a.header[0], a.header[1])
		}
		status := 0
		if resp, err := c.reads.Do(req); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		c.mu.Lock()
		c.probes = append(c.probes, probe{name: a.name, status: status})
		c.mu.Unlock()
		refused = append(refused, fmt.Sprintf("%s → %d", a.name, status))
	}
	c.story.say("shop: %d bad requests through the gateway: %s", len(attempts), strings.Join(refused, "; "))
}
