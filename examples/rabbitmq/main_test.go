package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
)

// TestStory runs the example against BULWARK_RABBITMQ_URL and checks what
// it tells, line by line (names and IDs masked).
func TestStory(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, url); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := regexp.MustCompile(`bulwark-example-[0-9a-f]+`).ReplaceAllString(out.String(), "NAME")
	got = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`).ReplaceAllString(got, "ID")
	got = regexp.MustCompile(`RabbitMQ at \S+:`).ReplaceAllString(got, "RabbitMQ at URL:")
	want := `RabbitMQ at URL: exchange NAME, queues NAME.orders and NAME.dlq

1. The shop writes 4 orders to the outbox; the relay publishes them, each confirmed by the broker.
   A relay that crashed after publishing o-1 publishes it again.

2. The consumer handles each delivery through an inbox (one run per message-id) and a retrier (3 attempts):
   o-1: charged 30
   attempt 1 failed (payment for o-2 timed out); retrying in 50ms
   attempt 2 failed (payment for o-2 timed out); retrying in 50ms
   o-2: charged 12
   dead-lettered after 1 attempt(s): {"id":"o-3","total":
   o-4: charged 7
   o-1 again (same message-id): dropped by the inbox

3. The dead-letter queue holds what could not be handled:
   body:     {"id":"o-3","total":
   attempts: 1
   error:    retry: gave up after 1 attempt (error is not retryable): malformed order "{\"id\":\"o-3\",\"total\":": unexpected end of JSON input
   (message ID of key customer-42, kept whole to replay once the shop is fixed)
`
	if got != want {
		t.Errorf("the story changed:\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestUnreachableBroker: without a broker the example stops at once with
// a message that says what is missing.
func TestUnreachableBroker(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), &out, "amqp://guest:secret@127.0.0.1:1/")
	if err == nil {
		t.Fatal("run succeeded without a broker")
	}
	want := "cannot reach RabbitMQ at amqp://guest:xxxxx@127.0.0.1:1/ (start one, or set BULWARK_RABBITMQ_URL)"
	if !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}
