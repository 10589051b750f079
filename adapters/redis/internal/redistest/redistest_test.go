package redistest_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/redis/internal/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientDeletesItsKeys(t *testing.T) {
	var prefix string
	t.Run("inner", func(t *testing.T) {
		c, p := redistest.Client(t)
		prefix = p
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, c.Set(context.Background(), p+k, "v", 0).Err())
		}
	})
	c, other := redistest.Client(t)
	assert.NotEqual(t, prefix, other)
	keys, err := c.Keys(context.Background(), prefix+"*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
}
