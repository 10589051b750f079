package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// edgeRig is the gateway in front of one fake service that answers every
// upstream's routes: POST /orders records the subject it got; the history
// is the real one on both sides, over an orders table of the rig's own.
type edgeRig struct {
	edge     *edge
	shop     *shop
	issuer   *issuer
	count    *counters
	tokens   map[string]string
	mu       sync.Mutex
	subjects []string // the subjects POST /orders got
}

func newEdgeRig(t *testing.T) *edgeRig {
	t.Helper()
	// First registered, so run last: after every Cleanup below closed
	// what it started.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx := context.Background()
	st := &sqliteStorage{dir: t.TempDir()}
	t.Cleanup(func() { _ = st.close() })
	db, err := st.open(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db.DB, `CREATE TABLE orders (id TEXT PRIMARY KEY, client TEXT NOT NULL, idempotency_key TEXT NOT NULL,
			sku TEXT NOT NULL, qty BIGINT NOT NULL, cents BIGINT NOT NULL, card TEXT NOT NULL)`,
		`INSERT INTO orders VALUES ('order-0001', 'web', 'web-1', 'widget', 2, 3000, 'x'), ('order-0002', 'partner', 'partner-1', 'gizmo', 1, 990, 'x'),
			('order-0003', 'web', 'web-2', 'gadget', 1, 4900, 'x')`); err != nil {
		t.Fatal(err)
	}
	rig := &edgeRig{count: &counters{}}
	mux := http.NewServeMux()
	mux.Handle("POST /orders", fronted(rig.count, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.mu.Lock()
		rig.subjects = append(rig.subjects, r.Header.Get(subjectHeader))
		rig.mu.Unlock()
		writeJSON(w, http.StatusCreated, orderEvent{OrderID: "order-0009", Client: r.Header.Get(subjectHeader)})
	})))
	mux.Handle("GET /clients/{client}/orders", fronted(rig.count, history(db.DB, &rig.count.servedOrders)))
	svc, err := serve(mux)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.close)
	mono, err := startMonolith(db, rig.count)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mono.close)
	reg, err := newRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "payments", "inventory"} {
		if _, err := reg.register(name, svc.url); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.register("monolith", mono.server.url); err != nil {
		t.Fatal(err)
	}
	if rig.issuer, err = startIssuer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.issuer.close)
	story := newStory(io.Discard)
	doc, err := openSlot(Options{Dir: t.TempDir()}, nil, "gateway", "gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rig.edge, err = startEdge(ctx, reg.resolver(), rig.issuer.url(), doc, nil, story, rig.count); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.edge.close)
	rig.tokens = map[string]string{}
	for _, c := range []string{"web", "partner"} {
		if rig.tokens[c], err = rig.issuer.token(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := rig.edge.ready(ctx, rig.tokens["web"]); err != nil {
		t.Fatal(err)
	}
	if rig.shop, err = newShop(rig.edge.server.url, rig.tokens, func() int { return int(rig.edge.phase.Load()) }, story, rig.count); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.shop.close)
	return rig
}

// do sends method path through the gateway with client's token (none for
// "") and the headers given as name, value pairs.
func (rig *edgeRig) do(t *testing.T, method, path, client string, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"sku":"widget","qty":1,"cents":1500,"card":"4242-4242-4242-4242"}`)
	}
	req, err := http.NewRequest(method, rig.edge.server.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if client != "" {
		req.Header.Set("Authorization", "Bearer "+rig.tokens[client])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := rig.shop.reads.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestGatewayRefusesBadTokens: every probe of the shop (no token, a forged
// subject header, an expired token, a wrong audience, alg none, HS256
// signed with the public key, another key, a missing scope) is refused with
// 401 or 403 before any service sees it; a valid token's subject replaces
// the subject header a client made up.
func TestGatewayRefusesBadTokens(t *testing.T) {
	rig := newEdgeRig(t)
	forgeries, err := rig.issuer.forgeries("web")
	if err != nil {
		t.Fatal(err)
	}
	rig.shop.probe(context.Background(), forgeries)
	if len(rig.shop.probes) != 8 {
		t.Fatalf("%d probes, want 8", len(rig.shop.probes))
	}
	for _, p := range rig.shop.probes {
		want := http.StatusUnauthorized
		if p.name == "no orders:write scope" {
			want = http.StatusForbidden
		}
		if p.status != want {
			t.Errorf("%s: %d, want %d", p.name, p.status, want)
		}
	}
	if n := rig.count.probesReached.Load() + rig.count.unauthenticated.Load(); n != 0 || len(rig.subjects) != 0 {
		t.Errorf("the service got %d bad requests and %d orders, want none", n, len(rig.subjects))
	}
	if rig.count.refused.Load() != 8 {
		t.Errorf("the gateway counted %d refusals, want 8", rig.count.refused.Load())
	}
	resp, _ := rig.do(t, http.MethodPost, "/orders", "partner", subjectHeader, "web", "Idempotency-Key", "k1")
	if resp.StatusCode != http.StatusCreated || len(rig.subjects) != 1 || rig.subjects[0] != "partner" {
		t.Errorf("partner's order with a forged %s: %d, the service saw subjects %v; want 201 and [partner]", subjectHeader, resp.StatusCode, rig.subjects)
	}
	// A client reads its own history only.
	if resp, _ := rig.do(t, http.MethodGet, "/history/web/orders", "partner"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("partner reading web's history: %d, want 403", resp.StatusCode)
	}
}

// TestGatewayLimitsEachClient: a client's burst beyond the limit gets 429
// with Retry-After and the RateLimit fields; another client's budget is
// its own.
func TestGatewayLimitsEachClient(t *testing.T) {
	rig := newEdgeRig(t)
	limited := 0
	for i := range ordersLimit + 3 {
		resp, _ := rig.do(t, http.MethodPost, "/orders", "partner", "Idempotency-Key", "p"+string(rune('a'+i)))
		switch resp.StatusCode {
		case http.StatusCreated:
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(resp.Header.Get("RateLimit"), `"orders";r=0`) {
				t.Errorf("429 without Retry-After or RateLimit: %v", resp.Header)
			}
		default:
			t.Errorf("status %d", resp.StatusCode)
		}
		if !strings.Contains(resp.Header.Get("RateLimit-Policy"), `"orders";q=3;w=1`) {
			t.Errorf("RateLimit-Policy %q", resp.Header.Get("RateLimit-Policy"))
		}
	}
	if limited < 3 || limited > 3+ordersLimit {
		t.Errorf("%d of %d answered 429, want at least 3", limited, ordersLimit+3)
	}
	if resp, _ := rig.do(t, http.MethodPost, "/orders", "web", "Idempotency-Key", "w1"); resp.StatusCode != http.StatusCreated {
		t.Errorf("web's first order: %d, want 201 (the partner's limit is its own)", resp.StatusCode)
	}
	rig.edge.mu.Lock()
	defer rig.edge.mu.Unlock()
	if rig.edge.limited["partner"] != limited || len(rig.edge.admitted["partner"]) != ordersLimit+3-limited {
		t.Errorf("the edge noted %d limited and %d admitted for partner", rig.edge.limited["partner"], len(rig.edge.admitted["partner"]))
	}
}

// TestStranglerMovesTheHistory: at weight 0 the monolith answers, at 100
// the orders service, each phase by a reload; the two answers are the same
// bytes.
func TestStranglerMovesTheHistory(t *testing.T) {
	rig := newEdgeRig(t)
	old, oldBody := rig.do(t, http.MethodGet, "/history/web/orders", "web", historyKeyHeader, "k")
	if err := rig.edge.setPhase(context.Background(), len(historyWeights)-1); err != nil {
		t.Fatal(err)
	}
	moved, newBody := rig.do(t, http.MethodGet, "/history/web/orders", "web", historyKeyHeader, "k")
	if old.Header.Get(servedByHeader) != sideMonolith || moved.Header.Get(servedByHeader) != sideOrders {
		t.Errorf("served by %q then %q, want monolith then orders", old.Header.Get(servedByHeader), moved.Header.Get(servedByHeader))
	}
	const want = `{"client":"web","orders":[{"order_id":"order-0001","sku":"widget","qty":2,"cents":3000},{"order_id":"order-0003","sku":"gadget","qty":1,"cents":4900}]}`
	if strings.TrimSpace(oldBody) != want || strings.TrimSpace(newBody) != want {
		t.Errorf("monolith answered %s, orders %s; want both %s", oldBody, newBody, want)
	}
	// Half way, the split over many keys follows the weight.
	if err := rig.edge.setPhase(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	movedN := 0
	const n = 200
	for i := range n {
		resp, _ := rig.do(t, http.MethodGet, "/history/partner/orders", "partner", historyKeyHeader, "key-"+string(rune('A'+i%26))+string(rune('a'+i/26)))
		if resp.Header.Get(servedByHeader) == sideOrders {
			movedN++
		}
	}
	if share := 100 * float64(movedN) / n; share < 50-splitTolerance(50, n) || share > 50+splitTolerance(50, n) {
		t.Errorf("%d of %d to the orders service at weight 50", movedN, n)
	}
}

func TestSplitTolerance(t *testing.T) {
	for _, tc := range []struct {
		w, n int
		want float64
	}{{0, 30, 0}, {100, 30, 0}, {50, 0, 0}, {50, 100, 17.5}, {25, 10000, 5}} {
		if got := splitTolerance(tc.w, tc.n); got < tc.want-0.01 || got > tc.want+0.01 {
			t.Errorf("splitTolerance(%d, %d) = %v, want %v", tc.w, tc.n, got, tc.want)
		}
	}
}

func TestWindowOverlaps(t *testing.T) {
	w := window{from: at(2), until: at(4)}
	open := window{from: at(2)}
	for _, tc := range []struct {
		w          window
		from, till float64
		want       bool
	}{
		{w, 1, 1.9, false}, {w, 1, 2, true}, {w, 3, 3.5, true}, {w, 4, 5, true}, {w, 4.1, 5, false},
		{open, 1, 1.5, false}, {open, 1, 2.5, true}, {open, 9, 10, true},
	} {
		if got := tc.w.overlaps(at(tc.from), at(tc.till)); got != tc.want {
			t.Errorf("%v overlaps [%v, %v] = %v, want %v", tc.w, tc.from, tc.till, got, tc.want)
		}
	}
}
