package bulwark_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a policy that notes when it is entered and left.
func recorder(name string, log *[]string) bulwark.Policy {
	return bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		*log = append(*log, name+">")
		err := op(ctx)
		*log = append(*log, "<"+name)
		return err
	})
}

func TestChainRunsOutermostFirst(t *testing.T) {
	var log []string
	p := bulwark.Chain(recorder("a", &log), recorder("b", &log), recorder("c", &log))
	err := p.Do(context.Background(), func(context.Context) error {
		log = append(log, "op")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "a> b> c> op <c <b <a", strings.Join(log, " "))
}

func TestChainReturnsOpError(t *testing.T) {
	boom := errors.New("boom")
	var log []string
	p := bulwark.Chain(recorder("a", &log), recorder("b", &log))
	err := p.Do(context.Background(), func(context.Context) error { return boom })
	assert.ErrorIs(t, err, boom)
}

func TestChainPolicyMayStopTheCall(t *testing.T) {
	rejected := errors.New("rejected")
	reject := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error { return rejected })
	var log []string
	ran := false
	p := bulwark.Chain(recorder("a", &log), reject, recorder("c", &log))
	err := p.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	assert.ErrorIs(t, err, rejected)
	assert.False(t, ran)
	assert.Equal(t, []string{"a>", "<a"}, log)
}

func TestChainPassesDerivedContextToOp(t *testing.T) {
	type key struct{}
	withValue := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, key{}, "set by policy"))
	})
	var log []string
	p := bulwark.Chain(withValue, recorder("b", &log))
	var got any
	require.NoError(t, p.Do(context.Background(), func(ctx context.Context) error {
		got = ctx.Value(key{})
		return nil
	}))
	assert.Equal(t, "set by policy", got)
}

func TestChainOfChains(t *testing.T) {
	var log []string
	inner := bulwark.Chain(recorder("b", &log), recorder("c", &log))
	outer := bulwark.Chain(recorder("a", &log), inner, recorder("d", &log))
	require.NoError(t, outer.Do(context.Background(), func(context.Context) error {
		log = append(log, "op")
		return nil
	}))
	assert.Equal(t, "a> b> c> d> op <d <c <b <a", strings.Join(log, " "))
}

func TestChainRepeatsOpForRetryingPolicy(t *testing.T) {
	twice := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			return nil
		}
		return op(ctx)
	})
	var log []string
	calls := 0
	p := bulwark.Chain(twice, recorder("b", &log))
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return errors.New("first fails")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
}

func TestChainOfNoneAndOne(t *testing.T) {
	ran := false
	require.NoError(t, bulwark.Chain().Do(context.Background(), func(context.Context) error { ran = true; return nil }))
	assert.True(t, ran)

	var log []string
	single := recorder("a", &log)
	p := bulwark.Chain(single)
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Equal(t, []string{"a>", "<a"}, log)
}

func TestChainIsNotAffectedByLaterChangesToTheArgumentSlice(t *testing.T) {
	var log []string
	policies := []bulwark.Policy{recorder("a", &log), recorder("b", &log)}
	p := bulwark.Chain(policies...)
	policies[0] = recorder("x", &log)
	require.NoError(t, p.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Equal(t, "a> b> <b <a", strings.Join(log, " "))
}

func TestChainAllocatesOnceWhateverItsLength(t *testing.T) {
	nop := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	op := func(context.Context) error { return nil }
	ctx := context.Background()
	for _, n := range []int{2, 3, 8} {
		policies := make([]bulwark.Policy, n)
		for i := range policies {
			policies[i] = nop
		}
		p := bulwark.Chain(policies...)
		allocs := testing.AllocsPerRun(100, func() { _ = p.Do(ctx, op) })
		assert.LessOrEqual(t, allocs, 1.0, "chain of %d", n)
	}
}

func TestCallReturnsTypedResult(t *testing.T) {
	var log []string
	p := bulwark.Chain(recorder("a", &log), recorder("b", &log))
	v, err := bulwark.Call(context.Background(), p, func(context.Context) (int, error) { return 42, nil })
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

func TestCallReturnsZeroOnError(t *testing.T) {
	boom := errors.New("boom")
	v, err := bulwark.Call(context.Background(), bulwark.Chain(), func(context.Context) (string, error) {
		return "partial", boom
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "", v)
}

func TestCallKeepsResultOfSuccessfulAttempt(t *testing.T) {
	retryOnce := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err == nil {
			return nil
		}
		return op(ctx)
	})
	attempt := 0
	v, err := bulwark.Call(context.Background(), retryOnce, func(context.Context) (int, error) {
		attempt++
		if attempt == 1 {
			return -1, errors.New("transient")
		}
		return attempt, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 2, v)
}

// TestCallWithConcurrentAttempts runs op from several goroutines at once, as a
// hedging policy does; with -race it proves Call does not race on the result.
func TestCallWithConcurrentAttempts(t *testing.T) {
	parallel := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = op(ctx) }()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	var n sync.Mutex
	next := 0
	v, err := bulwark.Call(context.Background(), parallel, func(context.Context) (int, error) {
		n.Lock()
		defer n.Unlock()
		next++
		return next, nil
	})
	require.NoError(t, err)
	assert.True(t, v >= 1 && v <= 8, "got %d", v)
}

func TestCallWhenPolicySwallowsError(t *testing.T) {
	swallow := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = op(ctx)
		return nil
	})
	v, err := bulwark.Call(context.Background(), swallow, func(context.Context) (int, error) {
		return 7, errors.New("failed")
	})
	require.NoError(t, err)
	assert.Equal(t, 0, v)
}

func BenchmarkChain(b *testing.B) {
	nop := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	op := func(context.Context) error { return nil }
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = op(ctx)
		}
	})
	b.Run("chain3", func(b *testing.B) {
		p := bulwark.Chain(nop, nop, nop)
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, op)
		}
	})
}

// TestCallWithAbandonedAttempt: a policy that gives up on an attempt which
// goes on running (a detached timeout) and succeeds with another; the
// abandoned attempt's late success must not race with Call's result.
func TestCallWithAbandonedAttempt(t *testing.T) {
	abandonFirst := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		go func() { _ = op(ctx) }() // abandoned: its outcome is never awaited
		return op(ctx)
	})
	for range 100 {
		v, err := bulwark.Call(context.Background(), abandonFirst, func(context.Context) (int, error) { return 1, nil })
		require.NoError(t, err)
		assert.Equal(t, 1, v)
	}
}

func TestDeliverGivesCallAValueInPlaceOfOp(t *testing.T) {
	// A policy that answers for a failed op, as a fallback does.
	answer := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err != nil {
			bulwark.Deliver(ctx, 42)
		}
		return nil
	})
	v, err := bulwark.Call(context.Background(), bulwark.Chain(answer, bulwark.Chain()), func(context.Context) (int, error) {
		return 0, errors.New("down")
	})
	require.NoError(t, err)
	assert.Equal(t, 42, v)
}

func TestDeliverKeepsTheFirstResultOnly(t *testing.T) {
	late := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		err := op(ctx)
		assert.False(t, bulwark.Deliver(ctx, 7), "op's own result was kept first")
		return err
	})
	v, err := bulwark.Call(context.Background(), late, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	assert.Equal(t, 1, v)
}

func TestDeliverOfAnotherTypeOrOutsideCallIsRefused(t *testing.T) {
	assert.False(t, bulwark.Deliver(context.Background(), 1), "no Call in the context")
	wrongType := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		assert.False(t, bulwark.Deliver(ctx, "text"), "the Call's result is an int")
		return nil
	})
	v, err := bulwark.Call(context.Background(), wrongType, func(context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	assert.Zero(t, v, "success without a value gives the zero T")
}

func BenchmarkCall(b *testing.B) {
	p := bulwark.Chain(bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) }))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = bulwark.Call(ctx, p, func(context.Context) (int, error) { return 1, nil })
	}
}

func TestPoliciesListsAChainOutermostFirst(t *testing.T) {
	var log []string
	a, b, c := recorder("a", &log), recorder("b", &log), recorder("c", &log)
	nop := func(context.Context) error { return nil }
	p := bulwark.Chain(a, bulwark.Chain(b, bulwark.Chain()), c)
	got := bulwark.Policies(p)
	require.Len(t, got, 3, "nested chains are flattened")
	for _, q := range got {
		require.NoError(t, q.Do(context.Background(), nop))
	}
	assert.Equal(t, "a> <a b> <b c> <c", strings.Join(log, " "))

	got[0] = c
	log = nil
	require.NoError(t, p.Do(context.Background(), nop))
	assert.Equal(t, "a> b> c> <c <b <a", strings.Join(log, " "), "changing the returned slice leaves the chain alone")

	assert.Empty(t, bulwark.Policies(bulwark.Chain()))
	single := bulwark.Policies(a)
	require.Len(t, single, 1)
	log = nil
	require.NoError(t, single[0].Do(context.Background(), nop))
	assert.Equal(t, "a> <a", strings.Join(log, " "))
}
