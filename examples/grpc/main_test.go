package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestStory runs the example on a shorter timeline and checks the story it
// tells: the charge is taken once, both breakers open while the warehouse
// is down and close once it is back, the health service says NOT_SERVING
// meanwhile, and the client's breaker keeps calls off the server.
func TestStory(t *testing.T) {
	var out bytes.Buffer
	rep, err := run(context.Background(), &out, timeline{flaky: time.Second, down: 1500 * time.Millisecond, recovered: 2500 * time.Millisecond})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	story := out.String()
	t.Logf("the example told:\n%s", story)
	if !rep.replayed {
		t.Error("the repeated charge was not answered from the first")
	}
	for _, line := range []string{"the warehouse is flaky", "the warehouse is down", "server breaker closed -> open", "client breaker closed -> open", "the warehouse is back", "health: inventory NOT_SERVING"} {
		if !strings.Contains(story, line) {
			t.Errorf("the story lacks %q", line)
		}
	}
	if n := len(rep.clientBreaker); n == 0 || rep.clientBreaker[n-1] != "closed" {
		t.Errorf("client breaker changes %v: want it closed at the end", rep.clientBreaker)
	}
	if rep.ok == 0 || rep.rejected == 0 {
		t.Errorf("want successes and rejections by the open breaker, got %+v", rep)
	}
	if rep.served >= int64(rep.ok+rep.failed+rep.rejected)*3 {
		t.Errorf("the server handled %d calls for %d client calls", rep.served, rep.ok+rep.failed+rep.rejected)
	}
}
