package outboxtest_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
)

// A store driver runs the suite from a test of its own, with a fresh store
// per subtest.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
			s := outbox.NewMemoryStore()
			return outboxtest.Harness{Store: s, Enqueue: s.Enqueue}
		})
	}
}

// A publisher runs the suite with a consumer of what it publishes, and
// declares what its broker cannot carry.
func ExampleRunPublisher() {
	_ = func(t *testing.T) { // func TestPublisherConformance(t *testing.T)
		outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness {
			p := outbox.NewMemoryPublisher()
			return outboxtest.PublisherHarness{
				Publisher: p,
				Receive: func(ctx context.Context, n int) ([]outbox.Message, error) {
					if err := p.WaitFor(ctx, n); err != nil {
						return nil, err
					}
					return p.Messages(), nil
				},
				Limits: outboxtest.Limits{}, // MaxTopic, MaxPayload, InvalidTopics… for a broker
			}
		})
	}
}
