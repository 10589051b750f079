package consume

import (
	"math"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZeroConfigIsDefaultConfig(t *testing.T) {
	zero, err := Config{}.resolve()
	require.NoError(t, err)
	def, err := DefaultConfig().resolve()
	require.NoError(t, err)
	assert.Equal(t, def, zero)
	assert.Equal(t, Config{
		Concurrency: 16, MaxPending: 256, InPlaceAttempts: 3,
		InPlaceBackoff: retry.Exponential{Initial: 10 * time.Millisecond}, InPlaceMaxDelay: 100 * time.Millisecond,
		MaxAttempts: 10, Redelivery: retry.Exponential{Initial: time.Second}, RedeliveryMaxDelay: 5 * time.Minute,
		ExtendEvery: 10 * time.Second,
	}, zero)
}

func TestConfigResolves(t *testing.T) {
	c, err := Config{Concurrency: 300}.resolve()
	require.NoError(t, err)
	assert.Equal(t, 300, c.MaxPending, "MaxPending defaults to Concurrency when that is larger than 256")
	c, err = Config{InPlaceAttempts: NoInPlaceRetries, MaxAttempts: Unlimited}.resolve()
	require.NoError(t, err)
	assert.Zero(t, c.InPlaceAttempts)
	assert.Equal(t, Unlimited, c.MaxAttempts)
	for _, ok := range []Config{
		{Concurrency: 1, MaxPending: 1},
		{Concurrency: 4096, MaxPending: 1e6},
		{InPlaceAttempts: 100, InPlaceMaxDelay: time.Minute, MaxAttempts: 1e6},
		{RedeliveryMaxDelay: 24 * time.Hour, ExtendEvery: time.Hour},
	} {
		_, err := ok.resolve()
		assert.NoError(t, err, "%+v", ok)
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Concurrency: -1}, "consume: Config.Concurrency must be 0 (meaning 16) or in [1, 4096], got -1"},
		{Config{Concurrency: 4097}, "consume: Config.Concurrency must be 0 (meaning 16) or in [1, 4096], got 4097"},
		{Config{Concurrency: 8, MaxPending: 7}, "consume: Config.MaxPending must be 0 (meaning 256) or in [Concurrency = 8, 1e6], got 7"},
		{Config{MaxPending: -1}, "consume: Config.MaxPending must be 0 (meaning 256) or in [Concurrency = 16, 1e6], got -1"},
		{Config{MaxPending: 1e6 + 1}, "consume: Config.MaxPending must be 0 (meaning 256) or in [Concurrency = 16, 1e6], got 1000001"},
		{Config{InPlaceAttempts: -2}, "consume: Config.InPlaceAttempts must be 0 (meaning 3), consume.NoInPlaceRetries or in [1, 100], got -2"},
		{Config{InPlaceAttempts: 101}, "consume: Config.InPlaceAttempts must be 0 (meaning 3), consume.NoInPlaceRetries or in [1, 100], got 101"},
		{Config{InPlaceMaxDelay: -1}, "consume: Config.InPlaceMaxDelay must be 0 (meaning 100ms) or in (0, 1m], got -1ns"},
		{Config{InPlaceMaxDelay: time.Minute + 1}, "consume: Config.InPlaceMaxDelay must be 0 (meaning 100ms) or in (0, 1m], got 1m0.000000001s"},
		{Config{MaxAttempts: -3}, "consume: Config.MaxAttempts must be 0 (meaning 10), consume.Unlimited or in [1, 1e6], got -3"},
		{Config{MaxAttempts: 1e6 + 1}, "consume: Config.MaxAttempts must be 0 (meaning 10), consume.Unlimited or in [1, 1e6], got 1000001"},
		{Config{RedeliveryMaxDelay: -time.Second}, "consume: Config.RedeliveryMaxDelay must be 0 (meaning 5m0s) or in (0, 24h], got -1s"},
		{Config{RedeliveryMaxDelay: 25 * time.Hour}, "consume: Config.RedeliveryMaxDelay must be 0 (meaning 5m0s) or in (0, 24h], got 25h0m0s"},
		{Config{ExtendEvery: -1}, "consume: Config.ExtendEvery must be 0 (meaning 10s) or in (0, 1h], got -1ns"},
		{Config{ExtendEvery: 2 * time.Hour}, "consume: Config.ExtendEvery must be 0 (meaning 10s) or in (0, 1h], got 2h0m0s"},
		{Config{InPlaceBackoff: retry.Exponential{Multiplier: math.NaN()}}, "consume: Config.InPlaceBackoff: Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got NaN"},
		{Config{Redelivery: retry.Constant{Delay: -1}}, "consume: Config.Redelivery: "},
	} {
		_, err := New(newFakeSource(), HandlerFunc(nil), tc.cfg)
		if assert.Error(t, err, "%+v", tc.cfg) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}
