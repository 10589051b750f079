package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
	"github.com/golang-jwt/jwt/v5"
)

// edgeDoc puts the edge features in front of the shop's services: JWT
// authentication with a scope, a limit per subject, a composed order page,
// and the order history moving from the monolith to the orders service.
const edgeDoc = `
jwt:
  issuers:
    - {iss: "{issuer}", jwks_url: "{issuer}/jwks.json", algorithms: [RS256], audiences: [shop]}
upstreams:
  orders:    {endpoints: ["{orders}"]}
  customers: {endpoints: ["{customers}"]}
  shipping:  {endpoints: ["{shipping}"]}
  monolith:  {endpoints: ["{monolith}"]}
routes:
  - match: /api/orders/
    upstream: orders
    strip_prefix: /api
    auth: {scopes: [orders:read], forward_claims: {sub: X-User}}
    limits: {key_by: [subject], windows: [{name: per-second, limit: 3, period: 1s}]}
  - match: "GET /api/order-details/{id}"
    auth: {scopes: [orders:read]}
    compose:
      deadline: 1s
      parts:
        - {key: order, upstream: orders, path: "/orders/{id}"}
        - {key: customer, upstream: customers, path: "/customers/{order.customer}"}
        - {key: shipping, upstream: shipping, path: "/shipments/{id}", timeout: 100ms, on_error: omit}
  - match: /api/history/
    upstream: monolith
    strip_prefix: /api
    strangler: {new: orders, weight: {weight}, sticky_by: header, sticky_name: X-Customer}
`

// edge runs the fourth part of the story.
func edge(ctx context.Context, out io.Writer) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	defer issuer.Close()
	token := func(sub, scope string) string {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": issuer.URL, "aud": "shop", "sub": sub, "scope": scope,
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		})
		t.Header["kid"] = "k1"
		s, err := t.SignedString(key)
		if err != nil {
			panic(err)
		}
		return s
	}

	services := map[string]http.HandlerFunc{
		"orders": func(w http.ResponseWriter, r *http.Request) {
			id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			fmt.Fprintf(w, `{"id": %q, "customer": "c-%s", "user": %q, "served_by": "orders"}`, id, id, r.Header.Get("X-User"))
		},
		"customers": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"id": %q, "name": "Ada"}`, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		},
		"shipping": func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond) // slower than the part's 100ms
			fmt.Fprint(w, `{"status": "shipped"}`)
		},
		"monolith": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"served_by": "monolith"}`)
		},
	}
	vars := []string{"{issuer}", issuer.URL}
	for name, h := range services {
		s := httptest.NewServer(h)
		defer s.Close()
		vars = append(vars, "{"+name+"}", s.Listener.Addr().String())
	}
	parse := func(weight int) (*gateway.Document, error) {
		return gateway.Parse([]byte(strings.NewReplacer(append(vars, "{weight}", fmt.Sprint(weight))...).Replace(edgeDoc)))
	}
	doc, err := parse(0)
	if err != nil {
		return err
	}
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- g.Run(runCtx) }()
	front := httptest.NewServer(g)
	defer func() {
		front.Close()
		_ = g.Close(context.Background())
		<-ran
	}()
	send := func(path, bearer string, header ...string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), err
	}
	alice, bob := token("alice", "orders:read"), token("bob", "profile")
	for deadline := time.Now().Add(5 * time.Second); ; { // the pools learn their endpoints once Run runs
		if status, _, err := send("/api/orders/0", token("probe", "orders:read")); err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}

	fmt.Fprintln(out, "the edge: JWT, limits per client, composition, strangler")
	for _, c := range []struct{ who, bearer string }{{"no token", ""}, {"bob (no orders:read scope)", bob}, {"alice", alice}} {
		status, body, err := send("/api/orders/1", c.bearer, "X-User", "mallory")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s: GET /api/orders/1 -> %d %s\n", c.who, status, firstLine(body))
	}
	limited := 0
	for range 5 {
		status, _, err := send("/api/orders/2", alice)
		if err != nil {
			return err
		}
		if status == http.StatusTooManyRequests {
			limited++
		}
	}
	fmt.Fprintf(out, "  alice sends 5 more within a second: %d refused with 429 (3 a second each)\n", limited)
	status, body, err := send("/api/order-details/7", token("carol", "orders:read"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  GET /api/order-details/7 (shipping too slow) -> %d %s\n", status, body)
	for _, weight := range []int{0, 50, 100} {
		if doc, err = parse(weight); err == nil {
			err = g.Reload(doc)
		}
		if err != nil {
			return err
		}
		moved := 0
		for i := range 100 {
			_, body, err := send("/api/history/c", "", "X-Customer", fmt.Sprint("customer-", i))
			if err != nil {
				return err
			}
			if strings.Contains(body, `"orders"`) {
				moved++
			}
		}
		fmt.Fprintf(out, "  history at weight %3d: %d of 100 customers served by the new orders service\n", weight, moved)
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
