package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestStory runs the example on its embedded NATS server and checks what
// it tells, line by line: every line is the same on every run.
func TestStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, t.TempDir()); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	want := `1. The payment gateway blips once: retried in place
   published order-1 (key "customer-a", total 42)
   order-1: delivery 1, run 1 failed: payment gateway: connection reset; run again in place in 20ms
   billed order-1 (delivery 1, run 2)

2. The card service is down for a whole delivery: handed back to JetStream
   published refund-7 (key "", total 15)
   refund-7: delivery 1, run 1 failed: card service unavailable; run again in place in 20ms
   refund-7: delivery 1, run 2 failed: card service unavailable; run again in place in 20ms
   refund-7: delivery 1, run 3 failed: card service unavailable; no retry in place
   refund-7: delivered again in 500ms (NakWithDelay)
   billed refund-7 (delivery 2, run 1)
   the server held it back for the delay: true

3. A negative total cannot be billed: dead-lettered
   published order-2 (key "customer-b", total -5)
   order-2: delivery 1, run 1 failed: negative total -5; no retry in place
   order-2: dead-lettered after 1 run(s)
   dead letter 1: order-2 from orders.created, key customer-b, 1 run(s), last error "negative total -5"

4. Negative totals become credit notes; the dead letter is replayed
   replaying dead letter 1 to orders.created
   credit note issued for order-2 (delivery 1, run 1)
   under the ID it was first published with: true
   dead letters left: 0
`
	if got := out.String(); got != want {
		t.Errorf("the story differs:\n--- got\n%s\n--- want\n%s", got, want)
	}
}
