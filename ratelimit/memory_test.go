package ratelimit_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryStoreConforms(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Store {
		s, err := ratelimit.NewMemoryStore(1000)
		require.NoError(t, err)
		return s
	})
}

func TestNewMemoryStoreValidates(t *testing.T) {
	_, err := ratelimit.NewMemoryStore(0)
	assert.EqualError(t, err, "ratelimit: NewMemoryStore maxKeys must be > 0, got 0")
}
