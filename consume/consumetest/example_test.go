package consumetest_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
)

// A Source runs the suite from a test of its own, with a fresh queue (here
// in memory; a stream, topic or queue on a broker) per subtest.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		consumetest.Run(t, func(t *testing.T) consumetest.Harness {
			q := consume.NewMemoryQueue(nil)
			return consumetest.Harness{
				NewSource: func(*testing.T) consume.Source { return q.Source() },
				Publish: func(_ *testing.T, _ context.Context, msgs ...consume.Message) {
					q.Publish(msgs...)
				},
			}
		})
	}
}
