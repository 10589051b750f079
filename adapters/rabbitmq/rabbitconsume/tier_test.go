package rabbitconsume

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTierRounding: a delay waits the first tier at least as long, a
// delay of 0 the first tier, and one past the last tier the last.
func TestTierRounding(t *testing.T) {
	s, err := New(Config{URL: "amqp://h/", Queue: "q"})
	require.NoError(t, err)
	for _, tt := range []struct{ delay, tier time.Duration }{
		{-time.Second, 10 * time.Millisecond},
		{0, 10 * time.Millisecond},
		{time.Nanosecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond},
		{11 * time.Millisecond, 20 * time.Millisecond},
		{150 * time.Millisecond, 200 * time.Millisecond},
		{time.Second, time.Second},
		{45 * time.Second, time.Minute},
		{5 * time.Minute, 5 * time.Minute},
		{24 * time.Hour, 24 * time.Hour},
		{25 * time.Hour, 24 * time.Hour},
	} {
		assert.Equal(t, tt.tier, s.tier(tt.delay), "delay %v", tt.delay)
	}
}

func TestEvents(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		e    interface{ LogValue() slog.Value }
		want string
	}{
		{ConnectionLost{Source: "s", Queue: "q", Err: boom}, "e.queue=q e.error=boom\n"},
		{ConnectFailed{Source: "s", Queue: "q", Attempt: 2, Err: boom, Wait: time.Second}, "e.queue=q e.attempt=2 e.error=boom e.wait=1s\n"},
	} {
		var b bytes.Buffer
		slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey {
				return slog.Attr{}
			}
			return a
		}})).Info("", "e", tt.e.LogValue())
		assert.Equal(t, tt.want, b.String())
	}
	assert.Equal(t, "rabbitconsume.connection_lost", ConnectionLost{}.Kind())
	assert.Equal(t, "rabbitconsume.connect_failed", ConnectFailed{}.Kind())
	assert.Equal(t, "s", ConnectionLost{Source: "s"}.Component())
	assert.Equal(t, "s", ConnectFailed{Source: "s"}.Component())
}
