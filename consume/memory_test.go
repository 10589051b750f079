package consume_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

func TestMemorySourceConformance(t *testing.T) {
	leakcheck.Check(t)
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
