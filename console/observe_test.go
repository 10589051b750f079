package console_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/require"
)

// TestObserveShowsEventRates: events the console observes are shown under
// their policy, counted, and as a rate over the time between two reads.
func TestObserveShowsEventRates(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var ops *console.Console
	doc, err := policyset.Parse([]byte(`{"policies": {"dep": {"circuit_breaker": {"consecutive_failures": 1, "open_wait": "1h"}}}}`))
	require.NoError(t, err)
	set, err := policyset.New(doc, policyset.Config{Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		ops.Observe(ctx, e)
	})})
	require.NoError(t, err)
	s := newSystem(t, func(c *console.Config) { c.Policies, c.Clock = set, clk })
	ops = s.console
	rejected := func(st console.State) console.EventRate {
		for _, e := range st.Policies[0].Events {
			if e.Kind == "circuitbreaker.rejected" {
				return e
			}
		}
		return console.EventRate{}
	}
	require.Empty(t, s.state(t).Policies[0].Events)

	dep, err := set.Policy("dep")
	require.NoError(t, err)
	_ = dep.Do(context.Background(), func(context.Context) error { return errors.New("down") })
	for range 10 {
		_ = dep.Do(context.Background(), func(context.Context) error { return nil })
	}
	require.Equal(t, console.EventRate{Kind: "circuitbreaker.rejected", Count: 10}, rejected(s.state(t)))
	clk.Advance(2 * time.Second)
	for range 10 {
		_ = dep.Do(context.Background(), func(context.Context) error { return nil })
	}
	require.Equal(t, console.EventRate{Kind: "circuitbreaker.rejected", Count: 20, PerSecond: 5}, rejected(s.state(t)))
}
