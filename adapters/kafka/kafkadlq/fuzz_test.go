package kafkadlq_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzNew: New either refuses a Config.Topic with an error that names the
// package and the field, or makes a Sink; it never panics. The client is
// never dialed: New only reads its options.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{"", "dlq", "a.b-c_d", ".", "..", "a/b", "t\x00", strings.Repeat("x", 249), strings.Repeat("x", 250)} {
		f.Add(seed)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	require.NoError(f, err)
	f.Cleanup(cl.Close)
	f.Fuzz(func(t *testing.T, topic string) {
		s, err := kafkadlq.New(cl, kafkadlq.Config[int]{Topic: topic})
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "kafkadlq: Config.Topic "), err.Error())
			return
		}
		assert.NotNil(t, s)
		assert.True(t, len(topic) <= 249, "accepted %q", topic) // "" is DefaultTopic
	})
}
