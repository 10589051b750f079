package idempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	valid := idempotency.DefaultConfig()
	valid.Store = idempotency.NewMemoryStore()
	for _, tc := range []struct {
		edit func(*idempotency.Config)
		want string
	}{
		{func(c *idempotency.Config) { c.Store = nil }, "Config.Store must be set"},
		{func(c *idempotency.Config) { c.Lease = 0 }, "Config.Lease must be > 0, got 0s"},
		{func(c *idempotency.Config) { c.TTL = 30 * time.Second }, "Config.TTL must be >= Config.Lease (1m0s), got 30s"},
		{func(c *idempotency.Config) { c.Wait = -1 }, "Config.Wait must be >= 0, got -1ns"},
		{func(c *idempotency.Config) { c.PollInterval = 0 }, "Config.PollInterval must be > 0, got 0s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cfg := valid
			tc.edit(&cfg)
			_, err := idempotency.New(cfg)
			require.Error(t, err)
			assert.Equal(t, "idempotency: "+tc.want, err.Error())
		})
	}
	_, err := idempotency.New(valid)
	assert.NoError(t, err)
}

func TestNewMiddlewareRejectsInvalidConfig(t *testing.T) {
	k, err := idempotency.New(idempotency.Config{Store: idempotency.NewMemoryStore(), Lease: time.Second, TTL: time.Second, PollInterval: time.Second})
	require.NoError(t, err)
	valid := idempotency.DefaultMiddlewareConfig()
	valid.Keeper = k
	for _, tc := range []struct {
		edit func(*idempotency.MiddlewareConfig)
		want string
	}{
		{func(c *idempotency.MiddlewareConfig) { c.Keeper = nil }, "MiddlewareConfig.Keeper must be set"},
		{func(c *idempotency.MiddlewareConfig) { c.Methods = nil }, "MiddlewareConfig.Methods must list at least one method"},
		{func(c *idempotency.MiddlewareConfig) { c.MaxBodyBytes = 0 }, "MiddlewareConfig.MaxBodyBytes must be > 0, got 0"},
		{func(c *idempotency.MiddlewareConfig) { c.MaxKeyLength = -1 }, "MiddlewareConfig.MaxKeyLength must be > 0, got -1"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cfg := valid
			tc.edit(&cfg)
			_, err := idempotency.NewMiddleware(cfg)
			require.Error(t, err)
			assert.Equal(t, "idempotency: "+tc.want, err.Error())
		})
	}
	_, err = idempotency.NewMiddleware(valid)
	assert.NoError(t, err)

	_, err = idempotency.NewInbox(idempotency.InboxConfig{Consumer: "c"})
	assert.EqualError(t, err, "idempotency: InboxConfig.Keeper must be set")
	_, err = idempotency.NewInbox(idempotency.InboxConfig{Keeper: k})
	assert.EqualError(t, err, "idempotency: InboxConfig.Consumer must not be empty")
}

func TestStartRejectsAnEmptyKey(t *testing.T) {
	cfg := idempotency.DefaultConfig()
	cfg.Store = idempotency.NewMemoryStore()
	k, err := idempotency.New(cfg)
	require.NoError(t, err)
	_, err = idempotency.Do(t.Context(), k, idempotency.Request{}, func(ctx context.Context) (int, error) { return 1, nil })
	assert.ErrorIs(t, err, idempotency.ErrInvalidKey)
}
