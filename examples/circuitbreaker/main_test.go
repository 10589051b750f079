package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// TestStory runs the example on a fake clock and checks the story it tells,
// line by line: trip, rejections, probes that fail while the service is
// down with a growing wait, and recovery.
func TestStory(t *testing.T) {
	fake := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), &out, fake) }()
	for range int(runFor / interval) {
		fake.BlockUntil(1)
		fake.Advance(interval)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	want := `calling inventory every 20ms for 3s; it is down from 500ms to 1.6s

 0.50s  inventory goes down
 0.58s  breaker closed -> open: 5 of the last 10 calls failed
 0.60s  calls rejected at once, without reaching inventory, for the next 280ms
 0.88s  breaker open -> half-open: letting 3 probe calls through
 0.90s  breaker half-open -> open: 2 of 2 probes failed, still down
 0.92s  calls rejected at once, without reaching inventory, for the next 580ms
 1.50s  breaker open -> half-open: letting 3 probe calls through
 1.52s  breaker half-open -> open: 2 of 2 probes failed, still down
 1.54s  calls rejected at once, without reaching inventory, for the next 980ms
 1.60s  inventory is back up
 2.52s  breaker open -> half-open: letting 3 probe calls through
 2.54s  breaker half-open -> closed: 2 probes succeeded, back to normal

150 calls: 49 succeeded, 9 failed at inventory, 92 rejected by the breaker (Metrics.Rejected = 92); breaker closed
`
	if got := out.String(); got != want {
		t.Fatalf("the example told\n%s\nwant\n%s", got, want)
	}
}
