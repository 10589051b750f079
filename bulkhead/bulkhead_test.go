package bulkhead_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFullBulkheadRejectsWithErrFull(t *testing.T) {
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	ctx := context.Background()
	err = b.Do(ctx, func(ctx context.Context) error {
		assert.ErrorIs(t, b.Do(ctx, func(context.Context) error { return nil }), bulkhead.ErrFull)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 0, b.InFlight())
}
