package chaos_test

import (
	"context"
	"errors"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark/chaos"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reconfigure changes the faults and the switch as one: under full load no
// call sees the faults of one configuration with the switch of the other.
func TestReconfigureChangesFaultsAndSwitchTogether(t *testing.T) {
	errA, errB := errors.New("A"), errors.New("B")
	a := chaos.Config{Faults: chaos.Faults{ErrorRate: 1, Error: errA}}
	// Under b the Injector is off, so calls run op; b's faults would fail
	// them with errB if a call saw them with a's switch.
	b := chaos.Config{Faults: chaos.Faults{ErrorRate: 1, Error: errB}, Disabled: true}
	inj := newInjector(t, a)

	var torn, calls atomic.Int64
	loadtest.While(8, func() {
		if errors.Is(inj.Do(context.Background(), func(context.Context) error { return nil }), errB) {
			torn.Add(1)
		}
		calls.Add(1)
	}, func() {
		for i := range 4000 {
			cfg := a
			if i%2 == 0 {
				cfg = b
			}
			require.NoError(t, inj.Reconfigure(cfg))
		}
	})
	assert.Zero(t, torn.Load(), "calls that saw b's faults with a's switch")
	assert.NotZero(t, calls.Load())
}

func TestReconfigureRefusesInvalidFaultsAndKeepsTheOld(t *testing.T) {
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 0.5}, Seed: 7})
	err := inj.Reconfigure(chaos.Config{Faults: chaos.Faults{ErrorRate: 1.5}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ErrorRate")
	got := inj.Settings()
	assert.Equal(t, 0.5, got.ErrorRate)
	assert.False(t, got.Disabled)
	assert.Equal(t, uint64(7), got.Seed)

	require.NoError(t, inj.Reconfigure(chaos.Config{Disabled: true, Seed: 99}))
	got = inj.Settings()
	assert.True(t, got.Disabled)
	assert.Zero(t, got.ErrorRate)
	assert.Equal(t, uint64(7), got.Seed, "the dice go on with New's seed")
}
