package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/fallback"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errDown    = errors.New("pricing is down")
	errInvalid = errors.New("invalid product")
)

// policy is bulwark.Policy's method set (a policy package does not import
// the root).
type policy interface {
	Do(ctx context.Context, op func(context.Context) error) error
}

var _ policy = (*fallback.Fallback[int])(nil)

func TestNewRejectsANilAlternative(t *testing.T) {
	_, err := fallback.New[int](fallback.DefaultConfig(), nil)
	assert.EqualError(t, err, "fallback: the alternative must not be nil")
	_, err = fallback.New(fallback.DefaultConfig(), fallback.Op(nil))
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
			fb, err := fallback.New(fallback.Config{Handle: tc.handle, OnFallback: func(err error) { seen = append(seen, err) }}, fallback.Value(42))
			require.NoError(t, err)
			got, err := fb.Call(context.Background(), func(context.Context) (int, error) { return tc.value, tc.err })
			assert.Equal(t, tc.want, got)
			if tc.wantErr != nil {
				assert.Equal(t, tc.wantErr, err, "op's error, unwrapped")
			} else {
				assert.NoError(t, err)
			}
			if tc.wantAlted {
				assert.Equal(t, []error{tc.err}, seen, "OnFallback sees op's error")
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
	fb, err := fallback.New(fallback.DefaultConfig(), func(ctx context.Context, err error) (string, error) {
		gotValue, gotErr = ctx.Value(key{}), err
		return "cached", nil
	})
	require.NoError(t, err)
	v, err := fb.Call(ctx, func(context.Context) (string, error) { return "", errDown })
	require.NoError(t, err)
	assert.Equal(t, "cached", v)
	assert.Equal(t, "request-7", gotValue)
	assert.Equal(t, errDown, gotErr)
}

func TestFailingAlternativeKeepsBothErrors(t *testing.T) {
	errCache := errors.New("cache miss")
	fb, err := fallback.New(fallback.DefaultConfig(), func(context.Context, error) (int, error) { return 5, errCache })
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
	fb, err := fallback.New(fallback.Config{Handle: fallback.ErrorIs(errDown)}, fallback.Op(func(_ context.Context, err error) error {
		queued = append(queued, err)
		return nil
	}))
	require.NoError(t, err)

	assert.NoError(t, fb.Do(context.Background(), func(context.Context) error { return nil }))
	assert.Empty(t, queued, "success does not run the alternative")

	assert.NoError(t, fb.Do(context.Background(), func(context.Context) error { return errDown }), "handled error replaced")
	assert.Equal(t, []error{errDown}, queued)

	assert.Equal(t, errInvalid, fb.Do(context.Background(), func(context.Context) error { return errInvalid }))
	assert.Len(t, queued, 1, "unhandled error leaves the alternative alone")

	errQueue := errors.New("queue full")
	failing, err := fallback.New(fallback.DefaultConfig(), fallback.Op(func(context.Context, error) error { return errQueue }))
	require.NoError(t, err)
	err = failing.Do(context.Background(), func(context.Context) error { return errDown })
	assert.ErrorIs(t, err, errQueue)
	assert.ErrorIs(t, err, errDown)
}

func TestPanicsPassThrough(t *testing.T) {
	ran := false
	fb, err := fallback.New(fallback.DefaultConfig(), func(context.Context, error) (int, error) { ran = true; return 0, nil })
	require.NoError(t, err)
	assert.PanicsWithValue(t, "op exploded", func() {
		_, _ = fb.Call(context.Background(), func(context.Context) (int, error) { panic("op exploded") })
	})
	assert.False(t, ran)
}

func TestConcurrentUse(t *testing.T) {
	fb, err := fallback.New(fallback.DefaultConfig(), fallback.Value("cached"))
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
	fb, err := fallback.New(fallback.Config{Handle: fallback.ErrorIs(errDown)}, fallback.Value(1))
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
