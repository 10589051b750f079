package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errDown    = errors.New("pricing is down")
	errInvalid = errors.New("invalid product")
)

var _ bulwark.Policy = (*fallback.Fallback[int])(nil)

func TestNewRejectsANilAlternative(t *testing.T) {
	_, err := fallback.New[int](nil, fallback.Config{})
	assert.EqualError(t, err, "fallback: alternative must not be nil")
	_, err = fallback.New(fallback.Op(nil), fallback.Config{})
	assert.Error(t, err)
}

func TestCall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handle    func(error) bool
		value     int
		err       error
		want      int
		wantErr   error
		wantAlted bool
	}{
		{name: "success keeps op's value", value: 7, want: 7},
		{name: "any error is handled by default", err: errDown, want: 42, wantAlted: true},
		{name: "a matching error is handled", handle: fallback.ErrorIs(errDown), err: fmt.Errorf("quote: %w", errDown), want: 42, wantAlted: true},
		{name: "any of several targets matches", handle: fallback.ErrorIs(errInvalid, errDown), err: errDown, want: 42, wantAlted: true},
		{name: "other errors pass through", handle: fallback.ErrorIs(errDown), value: 3, err: errInvalid, want: 3, wantErr: errInvalid},
		{name: "no targets match nothing", handle: fallback.ErrorIs(), err: errDown, wantErr: errDown},
		{name: "a custom predicate", handle: func(err error) bool { return err == errInvalid }, err: errInvalid, want: 42, wantAlted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen []error
			fb, err := fallback.New(fallback.Value(42), fallback.Config{Handle: tc.handle, Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				seen = append(seen, e.(fallback.FellBack).Err)
			})})
			require.NoError(t, err)
			got, err := fb.Call(context.Background(), func(context.Context) (int, error) { return tc.value, tc.err })
			assert.Equal(t, tc.want, got)
			if tc.wantErr != nil {
				assert.Equal(t, tc.wantErr, err, "op's error, unwrapped")
			} else {
				assert.NoError(t, err)
			}
			if tc.wantAlted {
				assert.Equal(t, []error{tc.err}, seen, "FellBack reports op's error")
			} else {
				assert.Empty(t, seen)
			}
		})
	}
}

func TestAlternativeGetsContextAndError(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "request-7")
	var gotValue any
	var gotErr error
	fb, err := fallback.New(func(ctx context.Context, err error) (string, error) {
		gotValue, gotErr = ctx.Value(key{}), err
		return "cached", nil
	}, fallback.Config{})
	require.NoError(t, err)
	v, err := fb.Call(ctx, func(context.Context) (string, error) { return "", errDown })
	require.NoError(t, err)
	assert.Equal(t, "cached", v)
	assert.Equal(t, "request-7", gotValue)
	assert.Equal(t, errDown, gotErr)
}

func TestFailingAlternativeKeepsBothErrors(t *testing.T) {
	errCache := errors.New("cache miss")
	fb, err := fallback.New(func(context.Context, error) (int, error) { return 5, errCache }, fallback.Config{})
	require.NoError(t, err)
	v, err := fb.Call(context.Background(), func(context.Context) (int, error) { return 0, errDown })
	assert.Zero(t, v, "no value comes with an error")
	assert.ErrorIs(t, err, errCache)
	assert.ErrorIs(t, err, errDown)
	var fe *fallback.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, errCache, fe.Err)
	assert.Equal(t, errDown, fe.Cause)
	assert.Equal(t, "fallback: alternative failed: cache miss (after: pricing is down)", err.Error())
}

func TestDoRunsAnAlternativeOp(t *testing.T) {
	var queued []error
	fb, err := fallback.New(fallback.Op(func(_ context.Context, err error) error {
		queued = append(queued, err)
		return nil
	}), fallback.Config{Handle: fallback.ErrorIs(errDown)})
	require.NoError(t, err)

	assert.NoError(t, fb.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Empty(t, queued, "success does not run the alternative")

	assert.NoError(t, fb.Do(context.Background(), func(context.Context) error { return errDown }), "handled error replaced")
	assert.Equal(t, []error{errDown}, queued)

	assert.Equal(t, errInvalid, fb.Do(context.Background(), func(context.Context) error { return errInvalid }))
	assert.Len(t, queued, 1, "unhandled error leaves the alternative alone")

	errQueue := errors.New("queue full")
	failing, err := fallback.New(fallback.Op(func(context.Context, error) error { return errQueue }), fallback.Config{})
	require.NoError(t, err)
	err = failing.Do(context.Background(), func(context.Context) error { return errDown })
	assert.ErrorIs(t, err, errQueue)
	assert.ErrorIs(t, err, errDown)
}

func TestPanicsPassThrough(t *testing.T) {
	ran := false
	fb, err := fallback.New(func(context.Context, error) (int, error) { ran = true; return 0, nil }, fallback.Config{})
	require.NoError(t, err)
	assert.PanicsWithValue(t, "op exploded", func() {
		_, _ = fb.Call(context.Background(), func(context.Context) (int, error) { panic("op exploded") })
	})
	assert.False(t, ran)
}

func TestConcurrentUse(t *testing.T) {
	fb, err := fallback.New(fallback.Value("cached"), fallback.Config{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := fb.Call(context.Background(), func(context.Context) (string, error) {
				if i%2 == 0 {
					return "", errDown
				}
				return "fresh", nil
			})
			assert.NoError(t, err)
			assert.Equal(t, map[bool]string{true: "cached", false: "fresh"}[i%2 == 0], v)
		}()
	}
	wg.Wait()
}

func TestSuccessPathAllocatesNothing(t *testing.T) {
	fb, err := fallback.New(fallback.Value(1), fallback.Config{Handle: fallback.ErrorIs(errDown)})
	require.NoError(t, err)
	ctx := context.Background()
	op := func(context.Context) (int, error) { return 2, nil }
	opErr := func(context.Context) error { return nil }
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = fb.Call(ctx, op) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = fb.Do(ctx, opErr) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		_, _ = fb.Call(ctx, func(context.Context) (int, error) { return 0, errDown })
	}), "a value fallback allocates nothing either")
}

// passthrough is a policy that runs op, standing for the policies a
// fallback usually wraps (a breaker, a retrier).
var passthrough = bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })

func TestCallThroughAChainReturnsTheAlternativesValue(t *testing.T) {
	fb, err := fallback.New(fallback.Value(42), fallback.Config{Handle: fallback.ErrorIs(errDown)})
	require.NoError(t, err)
	ctx := context.Background()
	for name, p := range map[string]bulwark.Policy{
		"fallback alone":         fb,
		"fallback outermost":     bulwark.Chain(fb, passthrough),
		"fallback in the middle": bulwark.Chain(passthrough, fb, passthrough),
	} {
		t.Run(name, func(t *testing.T) {
			v, err := bulwark.Call(ctx, p, func(context.Context) (int, error) { return 0, errDown })
			assert.NoError(t, err)
			assert.Equal(t, 42, v, "the alternative's value, not the zero int")

			v, err = bulwark.Call(ctx, p, func(context.Context) (int, error) { return 7, nil })
			assert.NoError(t, err)
			assert.Equal(t, 7, v, "op's own value when it succeeds")

			v, err = bulwark.Call(ctx, p, func(context.Context) (int, error) { return 3, errInvalid })
			assert.Equal(t, errInvalid, err, "an unhandled error passes through")
			assert.Zero(t, v)
		})
	}
	t.Run("a failing alternative", func(t *testing.T) {
		errCache := errors.New("cache miss")
		failing, err := fallback.New(func(context.Context, error) (int, error) { return 5, errCache }, fallback.Config{})
		require.NoError(t, err)
		v, err := bulwark.Call(ctx, bulwark.Chain(failing, passthrough), func(context.Context) (int, error) { return 0, errDown })
		assert.ErrorIs(t, err, errCache)
		assert.Zero(t, v)
	})
	t.Run("another result type", func(t *testing.T) {
		v, err := bulwark.Call(ctx, bulwark.Chain(fb, passthrough), func(context.Context) (string, error) { return "", errDown })
		assert.NoError(t, err, "the alternative answered")
		assert.Empty(t, v, "but its int cannot be a string")
	})
}

func TestZeroFallbackPanics(t *testing.T) {
	var fb fallback.Fallback[int]
	assert.PanicsWithValue(t, "fallback: Fallback used without New", func() {
		_, _ = fb.Call(context.Background(), func(context.Context) (int, error) { return 1, nil })
	})
	assert.PanicsWithValue(t, "fallback: Fallback used without New", func() {
		_ = fb.Do(context.Background(), func(context.Context) error { return nil })
	})
}

func TestFellBackEvent(t *testing.T) {
	type key struct{}
	var got []bulwark.Event
	var ctxValue any
	fb, err := fallback.New(fallback.Value(1), fallback.Config{Name: "pricing", Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		got = append(got, e)
		ctxValue = ctx.Value(key{})
	})})
	require.NoError(t, err)
	ctx := context.WithValue(context.Background(), key{}, "caller")
	require.NoError(t, fb.Do(ctx, func(context.Context) error { return nil }))
	assert.Empty(t, got, "success is not reported")
	require.NoError(t, fb.Do(ctx, func(context.Context) error { return errDown }))
	require.Equal(t, []bulwark.Event{fallback.FellBack{Name: "pricing", Err: errDown}}, got)
	assert.Equal(t, "caller", ctxValue)
	assert.Equal(t, "fallback.fell_back", got[0].Kind())
	assert.Equal(t, "pricing", got[0].Component())
	assert.Equal(t, "[error=pricing is down]", got[0].LogValue().String())
}
