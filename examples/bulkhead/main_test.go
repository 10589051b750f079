package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
)

// TestStory runs the example with three-second phases in real time and
// checks the story it tells: a line a second for each bulkhead, and, once
// settled, callers of the adaptive bulkhead waiting well under half as long
// as those of the fixed one while the dependency serves about as many.
func TestStory(t *testing.T) {
	testenv.SkipUnderRace(t)
	var out bytes.Buffer
	results, err := run(context.Background(), &out, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the example told:\n%s", out.String())
	if got := strings.Count(out.String(), "  limit "); got != 6 {
		t.Errorf("%d per-second lines, want 3 per bulkhead", got)
	}
	fixed, adaptive := results["fixed"], results["adaptive"]
	if adaptive.MeanLatency <= 0 || adaptive.MeanLatency > fixed.MeanLatency/2 {
		t.Errorf("adaptive latency %v is not well under half of fixed %v", adaptive.MeanLatency, fixed.MeanLatency)
	}
	if adaptive.Accepted < fixed.Accepted*6/10 {
		t.Errorf("adaptive served %d/s, fixed %d/s", adaptive.Accepted, fixed.Accepted)
	}
}
