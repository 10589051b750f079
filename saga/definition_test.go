package saga_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nop(context.Context, *Order, saga.Invocation) error { return nil }

func TestNewRejectsInvalidDefinitions(t *testing.T) {
	c := func(name string) saga.Step[Order] {
		return saga.Step[Order]{Name: name, Action: nop, Compensate: nop}
	}
	k := func(name string, kind saga.Kind) saga.Step[Order] {
		return saga.Step[Order]{Name: name, Kind: kind, Action: nop}
	}
	for _, tc := range []struct {
		name string
		def  saga.Definition[Order]
		want string
	}{
		{"no name", saga.Definition[Order]{Steps: []saga.Step[Order]{c("a")}}, "Definition.Name must not be empty"},
		{"no steps", saga.Definition[Order]{Name: "d"}, `Definition "d" has no steps`},
		{"negative timeout", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{c("a")}, Timeout: -time.Second}, "Definition.Timeout must be >= 0, got -1s"},
		{"unnamed step", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{c("")}}, `step 0 (""): Name must not be empty`},
		{"duplicate step", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{c("a"), c("a")}}, `step 1 ("a"): Name is used by an earlier step`},
		{"unknown kind", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{k("a", 7)}}, "Kind must be Compensatable, Pivot or Retriable, got Kind(7)"},
		{"no action", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{{Name: "a"}}}, "Action must not be nil"},
		{"compensated pivot", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{{Name: "a", Kind: saga.Pivot, Action: nop, Compensate: nop}}}, "a pivot step is never compensated, so Compensate must be nil"},
		{"compensated retriable", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{{Name: "a", Kind: saga.Retriable, Action: nop, Compensate: nop}}}, "a retriable step is never compensated"},
		{"two pivots", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{k("a", saga.Pivot), k("b", saga.Pivot)}}, "a pivot step cannot follow a pivot step"},
		{"compensatable after pivot", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{k("a", saga.Pivot), c("b")}}, "a compensatable step cannot follow a pivot step"},
		{"pivot after retriable", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{k("a", saga.Retriable), k("b", saga.Pivot)}}, "a pivot step cannot follow a retriable step"},
		{"negative step timeout", saga.Definition[Order]{Name: "d", Steps: []saga.Step[Order]{{Name: "a", Action: nop, Timeout: -1}}}, "Timeout must be >= 0, got -1ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := saga.New(tc.def, saga.NewMemoryStore(), saga.DefaultConfig())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewAcceptsEveryValidShape(t *testing.T) {
	c := saga.Step[Order]{Action: nop, Compensate: nop}
	bare := saga.Step[Order]{Action: nop}
	p := saga.Step[Order]{Kind: saga.Pivot, Action: nop}
	r := saga.Step[Order]{Kind: saga.Retriable, Action: nop}
	for name, steps := range map[string][]saga.Step[Order]{
		"compensatable only":          {c, bare, c},
		"pivot only":                  {p},
		"retriable only":              {r, r},
		"all kinds":                   {c, bare, p, r, r},
		"no pivot":                    {c, r},
		"pivot without retriable":     {c, p},
		"retriable after retriable":   {p, r, r},
		"compensatable without undo ": {bare},
	} {
		t.Run(name, func(t *testing.T) {
			for i := range steps {
				steps[i].Name = string(rune('a' + i))
			}
			o, err := saga.New(saga.Definition[Order]{Name: "d", Steps: steps}, saga.NewMemoryStore(), saga.DefaultConfig())
			require.NoError(t, err)
			require.NoError(t, o.Close(context.Background()))
		})
	}
}

func TestInvocationKeyIsStable(t *testing.T) {
	inv := saga.Invocation{SagaID: "order-42", Step: "charge", Attempt: 3}
	assert.Equal(t, "order-42/charge", inv.Key())
	inv.Attempt = 9
	assert.Equal(t, "order-42/charge", inv.Key(), "the attempt does not change the key")
	inv.Compensation = true
	assert.Equal(t, "order-42/charge/compensation", inv.Key(), "a compensation has a key of its own")
}

func TestKindAndStatusNames(t *testing.T) {
	assert.Equal(t, "compensatable", saga.Compensatable.String())
	assert.Equal(t, "pivot", saga.Pivot.String())
	assert.Equal(t, "retriable", saga.Retriable.String())
	for _, st := range []saga.Status{saga.Running, saga.Compensating, saga.Completed, saga.Compensated, saga.NeedsAttention, saga.Abandoned} {
		got, err := saga.ParseStatus(string(st))
		require.NoError(t, err)
		assert.Equal(t, st, got)
		assert.Equal(t, st != saga.Running && st != saga.Compensating, st.Terminal(), st)
	}
	_, err := saga.ParseStatus("RUNNING")
	assert.EqualError(t, err, `saga: unknown status "RUNNING"`)
}
