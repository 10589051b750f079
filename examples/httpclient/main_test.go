package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

// TestStory runs the example on a shorter timeline and checks the story it
// tells: retries absorb the flaky phase, the breaker opens when the service
// goes down and closes once it is back, and every request is accounted for.
func TestStory(t *testing.T) {
	var out bytes.Buffer
	rep, err := run(context.Background(), &out, timeline{flaky: time.Second, down: 1500 * time.Millisecond, recovered: 2 * time.Second})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	story := out.String()
	t.Logf("the example told:\n%s", story)

	for _, line := range []string{"inventory is flaky", "inventory is down", "breaker closed -> open", "inventory is back", "breaker half-open -> closed"} {
		if !strings.Contains(story, line) {
			t.Errorf("the story lacks %q", line)
		}
	}
	if strings.LastIndex(story, "breaker half-open -> closed") < strings.Index(story, "inventory is back") {
		t.Error("the breaker did not close after the service came back")
	}
	if rep.breaker != circuitbreaker.StateClosed {
		t.Errorf("breaker %v at the end, want closed", rep.breaker)
	}
	o := rep.outcomes
	if o[ok] == 0 || o[open] == 0 || rep.retries == 0 {
		t.Errorf("want successes, breaker rejections and retries, got %+v and %d retries", o, rep.retries)
	}
	if o[other] != 0 {
		t.Errorf("%d requests ended with an unexpected error", o[other])
	}
	// The breaker kept requests off the service: fewer reached it than the
	// client made attempts for.
	if rep.served >= int64(o.requests())+rep.retries {
		t.Errorf("the service saw %d requests for %d requests and %d retries", rep.served, o.requests(), rep.retries)
	}
}
