package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestStory runs the example and checks what it tells: every orders
// request answered by orders-1 in spite of the failing endpoint, users
// routed, a problem for the unknown path, the reload's new route and the
// invalid reload refused.
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
	} {
		if !strings.Contains(story, line) {
			t.Errorf("the story lacks %q", line)
		}
	}
}
