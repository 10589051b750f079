package console_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/require"
)

// TestSagasOfAnOrchestrator lists a real orchestrator's stuck saga, and
// resumes one (which then ends compensated) and abandons another.
func TestSagasOfAnOrchestrator(t *testing.T) {
	down := true
	def := saga.Definition[int]{Name: "refund", Steps: []saga.Step[int]{
		{Name: "charge", Action: func(context.Context, *int, saga.Invocation) error { return nil },
			Compensate: func(context.Context, *int, saga.Invocation) error {
				if down {
					return errors.New("provider down")
				}
				return nil
			}},
		{Name: "ship", Action: func(context.Context, *int, saga.Invocation) error { return errors.New("no stock") }},
	}}
	orch, err := saga.New(def, saga.NewMemoryStore(), saga.Config{CompensationAttempts: 1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer orch.Close(context.Background())
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		require.ErrorIs(t, orch.Execute(ctx, id, 1), saga.ErrNeedsAttention)
	}
	sagas := console.SagasOf(orch)
	stuck, err := sagas.NeedAttention(ctx, 10)
	require.NoError(t, err)
	require.Len(t, stuck, 2)
	require.Equal(t, "a", stuck[0].ID)
	require.Equal(t, "charge", stuck[0].Step)
	require.Contains(t, stuck[0].Error, "provider down")

	down = false
	require.NoError(t, sagas.Resume(ctx, "a"))
	require.NoError(t, sagas.Abandon(ctx, "b", "refunded by hand"))
	require.Error(t, sagas.Resume(ctx, "b"), "an abandoned saga does not need attention")
	stuck, err = sagas.NeedAttention(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, stuck)
}
