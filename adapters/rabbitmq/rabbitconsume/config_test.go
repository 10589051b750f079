package rabbitconsume_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidates(t *testing.T) {
	dial := func(context.Context) (*amqp.Connection, error) { return nil, nil }
	const url = "amqp://guest:guest@127.0.0.1:5672/"
	long := strings.Repeat("q", 237)
	for _, tt := range []struct {
		name string
		cfg  rabbitconsume.Config
		want string
	}{
		{"both", rabbitconsume.Config{URL: url, Dial: dial, Queue: "q"}, "rabbitconsume: set Config.URL or Config.Dial, not both"},
		{"bad URL", rabbitconsume.Config{URL: "http://x/", Queue: "q"}, "rabbitconsume: Config.URL: AMQP scheme must be either 'amqp://' or 'amqps://'"},
		{"no queue", rabbitconsume.Config{URL: url}, "rabbitconsume: Config.Queue must be 1 to 236 bytes, got 0"},
		{"long queue", rabbitconsume.Config{URL: url, Queue: long}, "rabbitconsume: Config.Queue must be 1 to 236 bytes, got 237"},
		{"dead letters in the queue", rabbitconsume.Config{URL: url, Queue: "q", DeadLetterQueue: "q"}, `rabbitconsume: Config.DeadLetterQueue must be at most 255 bytes and not Config.Queue, got "q"`},
		{"default exchange binding", rabbitconsume.Config{URL: url, Queue: "q", Bindings: []rabbitconsume.Binding{{Key: "k"}}}, "rabbitconsume: Config.Bindings[0].Exchange must be 1 to 255 bytes, got 0"},
		{"long binding key", rabbitconsume.Config{URL: url, Queue: "q", Bindings: []rabbitconsume.Binding{{Exchange: "x", Key: strings.Repeat("k", 256)}}}, "rabbitconsume: Config.Bindings[0].Key must be at most 255 bytes, got 256"},
		{"negative prefetch", rabbitconsume.Config{URL: url, Queue: "q", Prefetch: -1}, "rabbitconsume: Config.Prefetch must be 0 (meaning 256) or in [1, 65535], got -1"},
		{"huge prefetch", rabbitconsume.Config{URL: url, Queue: "q", Prefetch: 65536}, "rabbitconsume: Config.Prefetch must be 0 (meaning 256) or in [1, 65535], got 65536"},
		{"empty tiers", rabbitconsume.Config{URL: url, Queue: "q", RetryTiers: []time.Duration{}}, "rabbitconsume: Config.RetryTiers must be nil (the defaults) or hold at least one delay"},
		{"sub-millisecond tier", rabbitconsume.Config{URL: url, Queue: "q", RetryTiers: []time.Duration{time.Microsecond}}, "rabbitconsume: Config.RetryTiers[0] must be a whole number of milliseconds in [1ms, 1193h2m47.295s], got 1µs"},
		{"fractional tier", rabbitconsume.Config{URL: url, Queue: "q", RetryTiers: []time.Duration{time.Second, 1500 * time.Microsecond * 1000 / 999}}, "rabbitconsume: Config.RetryTiers[1] must be a whole number of milliseconds in [1ms, 1193h2m47.295s], got 1.501501ms"},
		{"long tier", rabbitconsume.Config{URL: url, Queue: "q", RetryTiers: []time.Duration{(1 << 32) * time.Millisecond}}, "rabbitconsume: Config.RetryTiers[0] must be a whole number of milliseconds in [1ms, 1193h2m47.295s], got 1193h2m47.296s"},
		{"unordered tiers", rabbitconsume.Config{URL: url, Queue: "q", RetryTiers: []time.Duration{time.Second, time.Second}}, "rabbitconsume: Config.RetryTiers must increase, got 1s after 1s"},
		{"retry queue TTL", rabbitconsume.Config{URL: url, Queue: "q", RetryQueueArgs: amqp.Table{"x-message-ttl": int64(5)}}, "rabbitconsume: Config.RetryQueueArgs may not set x-message-ttl: the Source sets it"},
		{"retry queue DLX", rabbitconsume.Config{URL: url, Queue: "q", RetryQueueArgs: amqp.Table{"x-dead-letter-exchange": "x"}}, "rabbitconsume: Config.RetryQueueArgs may not set x-dead-letter-exchange: the Source sets it"},
		{"retry queue DLX key", rabbitconsume.Config{URL: url, Queue: "q", RetryQueueArgs: amqp.Table{"x-dead-letter-routing-key": "q"}}, "rabbitconsume: Config.RetryQueueArgs may not set x-dead-letter-routing-key: the Source sets it"},
		{"bad backoff", rabbitconsume.Config{URL: url, Queue: "q", ReconnectBackoff: retry.Constant{Delay: -1}}, "rabbitconsume: Config.ReconnectBackoff: Constant.Delay must be >= 0, got -1ns"},
		{"negative max delay", rabbitconsume.Config{URL: url, Queue: "q", MaxReconnectDelay: -1}, "rabbitconsume: Config.MaxReconnectDelay must be >= 0 (0 means 5s), got -1ns"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitconsume.New(tt.cfg)
			assert.EqualError(t, err, tt.want)
		})
	}
	s, err := rabbitconsume.New(rabbitconsume.Config{URL: url, Queue: strings.Repeat("q", 236), RetryTiers: []time.Duration{(1<<32 - 1) * time.Millisecond}})
	require.NoError(t, err)
	assert.Len(t, rabbitconsume.RetryQueueName(strings.Repeat("q", 236), (1<<32-1)*time.Millisecond), 255)
	require.NoError(t, s.Close(context.Background()))
}

func TestDefaultConfig(t *testing.T) {
	def := rabbitconsume.DefaultConfig()
	assert.Equal(t, 256, def.Prefetch)
	assert.Equal(t, consume.DefaultConfig().MaxPending, def.Prefetch, "the prefetch must cover the Consumer's default MaxPending")
	assert.Equal(t, rabbitconsume.DefaultRetryTiers(), def.RetryTiers)
	assert.Equal(t, 5*time.Second, def.MaxReconnectDelay)
	assert.Equal(t, retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.EqualJitter}, def.ReconnectBackoff)
	tiers := def.RetryTiers
	assert.Equal(t, 10*time.Millisecond, tiers[0])
	assert.Equal(t, 24*time.Hour, tiers[len(tiers)-1])
	assert.Equal(t, "orders.retry.200ms", rabbitconsume.RetryQueueName("orders", 200*time.Millisecond))
	assert.Equal(t, "orders.retry.86400000ms", rabbitconsume.RetryQueueName("orders", 24*time.Hour))
}

func TestZeroValuesPanic(t *testing.T) {
	var s rabbitconsume.Source
	assert.PanicsWithValue(t, "rabbitconsume: Source used without New", func() { _, _ = s.Receive(context.Background(), 1) })
	assert.PanicsWithValue(t, "rabbitconsume: Source used without New", func() { _ = s.Close(context.Background()) })
	var l rabbitconsume.DeadLetters
	assert.PanicsWithValue(t, "rabbitconsume: DeadLetters used without NewDeadLetters", func() { _, _ = l.List(context.Background(), 1) })
	assert.PanicsWithValue(t, "rabbitconsume: DeadLetters used without NewDeadLetters", func() { _ = l.Close() })
}

// FuzzNew: New either refuses a Config with an error that names the
// package, or makes a Source; it never panics and dials nothing.
func FuzzNew(f *testing.F) {
	f.Add("amqp://h/", "q", "", 0, int64(0), int64(0), "x", "#")
	f.Add("", "q", "d", 1, int64(time.Millisecond), int64(time.Second), "", "")
	f.Add("amqp://h/", "", "q", 65536, int64(-1), int64(1), "x", "k")
	f.Add("http://h/", "q", "q", -1, int64(time.Microsecond), int64(time.Microsecond), "", "")
	f.Fuzz(func(t *testing.T, url, queue, dlq string, prefetch int, tier1, tier2 int64, exchange, key string) {
		cfg := rabbitconsume.Config{URL: url, Queue: queue, DeadLetterQueue: dlq, Prefetch: prefetch,
			RetryTiers: []time.Duration{time.Duration(tier1), time.Duration(tier2)}}
		if exchange != "" || key != "" {
			cfg.Bindings = []rabbitconsume.Binding{{Exchange: exchange, Key: key}}
		}
		s, err := rabbitconsume.New(cfg)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "rabbitconsume: "), err.Error())
			return
		}
		assert.NoError(t, s.Close(context.Background()))
		assert.True(t, prefetch >= 0 && prefetch <= 65535, "accepted Prefetch %d", prefetch)
		assert.True(t, len(queue) > 0 && len(rabbitconsume.RetryQueueName(queue, time.Duration(tier2))) <= 255, "accepted Queue %q", queue)
		assert.True(t, tier1 >= int64(time.Millisecond) && tier1 < tier2 && tier2%int64(time.Millisecond) == 0, "accepted tiers %d, %d", tier1, tier2)
	})
}
