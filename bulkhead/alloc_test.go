package bulkhead_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHotPathsAllocateNothing: taking and returning a permit, and turning a
// call away from a full bulkhead, allocate nothing, fixed or adaptive, and
// per key once the key is known.
func TestHotPathsAllocateNothing(t *testing.T) {
	ctx := context.Background()
	fixed, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 4})
	require.NoError(t, err)
	gradient := bulkhead.DefaultGradient()
	adaptive, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 16, Adaptive: gradient})
	require.NoError(t, err)
	aimd, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 16, Adaptive: bulkhead.AIMD{LatencyThreshold: 1 << 40}})
	require.NoError(t, err)
	keyed, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: 4}, MaxIdleKeys: 8})
	require.NoError(t, err)
	full, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	held, ok := full.TryAcquire()
	require.True(t, ok)
	defer held.Release(nil)

	for name, call := range map[string]func(){
		"Do":                 func() { _ = fixed.Do(ctx, nop) },
		"TryAcquire/Release": func() { p, _ := fixed.TryAcquire(); p.Release(nil) },
		"Acquire/Release":    func() { p, _ := fixed.Acquire(ctx); p.Release(nil) },
		"Do, Gradient":       func() { _ = adaptive.Do(ctx, nop) },
		"Do, AIMD":           func() { _ = aimd.Do(ctx, nop) },
		"Keyed.Do":           func() { _ = keyed.Do(ctx, "tenant-1", nop) },
		"rejected Do": func() {
			if err := full.Do(ctx, nop); !errors.Is(err, bulkhead.ErrFull) {
				t.Fatalf("got %v, want ErrFull", err)
			}
		},
	} {
		call() // a keyed bulkhead allocates its key's entry on first use
		assert.Zero(t, testing.AllocsPerRun(1000, call), name)
	}
}
