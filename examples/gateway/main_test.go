package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestStory runs the example and checks what it tells: every orders
// request answered by orders-1 in spite of the failing endpoint, users
// routed, a problem for the unknown path, the reload's new route and the
// invalid reload refused; then the edge: tokens refused without a token or
// a scope, the subject forwarded, a limit per subject, a composed answer
// marked partial, and the strangler's split following its weight.
func TestStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	story := out.String()
	t.Logf("the example told:\n%s", story)
	for _, line := range []string{
		"GET /api/orders/1 -> 200 orders-1 answered /orders/1",
		"GET /api/orders/4 -> 200 orders-1 answered /orders/4",
		"GET /api/users/7 -> 200 users answered /users/7",
		`GET /nowhere -> 404 {"title":"Not Found","status":404`,
		"GET /api/orders/5 -> 200 orders-1 answered /orders/5",
		"GET /v2/users/7 -> 200 users answered /internal/users/7",
		`reload of an invalid document refused: gateway: routes[0].upstream: no upstream named "missing"`,
		"GET /v2/users/8 -> 200 users answered /internal/users/8",
		"no token: GET /api/orders/1 -> 401",
		"bob (no orders:read scope): GET /api/orders/1 -> 403",
		`alice: GET /api/orders/1 -> 200 {"id": "1", "customer": "c-1", "user": "alice"`, // X-User forwarded from the token, not the client's "mallory"
		`GET /api/order-details/7 (shipping too slow) -> 200 {"_partial":["shipping"],"customer":{"id":"c-7","name":"Ada"}`,
		"history at weight   0: 0 of 100",
		"history at weight 100: 100 of 100",
	} {
		if !strings.Contains(story, line) {
			t.Errorf("the story lacks %q", line)
		}
	}
}

// The limit per subject refuses some of alice's burst, and the strangler's
// split at weight 50 is near half (the split is a hash of each customer's
// key, so the exact count is fixed but not 50).
func TestStoryEdgeFigures(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	var refused, moved int
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "alice sends 5 more") {
			if _, err := fmt.Sscanf(line[strings.Index(line, ":")+1:], "%d", &refused); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(line, "history at weight  50:") {
			if _, err := fmt.Sscanf(line[strings.Index(line, ":")+1:], "%d", &moved); err != nil {
				t.Fatal(err)
			}
		}
	}
	if refused < 1 || refused > 5 {
		t.Errorf("alice's refused requests = %d, want some of 5 (3 a second are allowed)", refused)
	}
	if moved < 30 || moved > 70 {
		t.Errorf("customers moved at weight 50 = %d, want about half", moved)
	}
}
