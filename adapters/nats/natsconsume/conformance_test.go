package natsconsume_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// harness gives consumetest a fresh stream on the server at url; each
// NewSource is a new Source on the same durable consumer, as a restarted
// process makes.
func harness(t *testing.T, url string) consumetest.Harness {
	e := newEnv(t, url)
	return consumetest.Harness{
		NewSource: func(t *testing.T) consume.Source {
			src, err := natsconsume.New(e.js, e.cfg)
			require.NoError(t, err)
			return src
		},
		Publish: func(t *testing.T, ctx context.Context, msgs ...consume.Message) {
			for _, m := range msgs {
				m.Topic = e.name + ".conformance"
				msg, err := natsconsume.Encode(m)
				require.NoError(t, err)
				_, err = e.js.PublishMsg(ctx, msg)
				require.NoError(t, err)
			}
		},
	}
}

func TestConformanceEmbedded(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after the server's and connections' cleanups
	url := natstest.Server(t)
	consumetest.Run(t, func(t *testing.T) consumetest.Harness { return harness(t, url) })
}

func TestConformanceExternal(t *testing.T) {
	url := natstest.External(t)
	consumetest.Run(t, func(t *testing.T) consumetest.Harness { return harness(t, url) })
}
