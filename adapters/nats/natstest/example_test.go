package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
)

// A test that publishes to a JetStream stream of its own on an embedded
// server: everything is gone when the test ends.
func Example() {
	_ = func(t *testing.T) {
		url := natstest.Server(t)
		_, js := natstest.Connect(t, url)
		stream, subject := natstest.Stream(t, js, time.Minute)

		if _, err := js.Publish(context.Background(), subject+".greeting", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		info, err := stream.Info(context.Background())
		if err != nil || info.State.Msgs != 1 {
			t.Fatalf("stream holds %d messages (%v), want 1", info.State.Msgs, err)
		}
	}
}
