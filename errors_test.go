package bulwark_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/stretchr/testify/assert"
)

type hinted time.Duration

func (h hinted) Error() string             { return "hinted" }
func (h hinted) RetryAfter() time.Duration { return time.Duration(h) }

func TestRetryAfterFindsTheFirstHintInTheTree(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want time.Duration
		ok   bool
	}{
		"nil":              {nil, 0, false},
		"no hint":          {errors.New("plain"), 0, false},
		"direct":           {hinted(time.Second), time.Second, true},
		"wrapped":          {fmt.Errorf("call: %w", hinted(2*time.Second)), 2 * time.Second, true},
		"joined, first":    {errors.Join(errors.New("a"), hinted(3*time.Second), hinted(time.Hour)), 3 * time.Second, true},
		"negative reads 0": {hinted(-time.Second), 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := bulwark.RetryAfter(tc.err)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRetryAfterDoesNotAllocate(t *testing.T) {
	err := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", hinted(time.Second)))
	allocs := testing.AllocsPerRun(100, func() { _, _ = bulwark.RetryAfter(err) })
	assert.Zero(t, allocs)
}

func TestNewRejectionMatchesErrRejected(t *testing.T) {
	a, b := bulwark.NewRejection("pkg: refused"), bulwark.NewRejection("pkg: refused")
	assert.ErrorIs(t, a, bulwark.ErrRejected)
	assert.ErrorIs(t, fmt.Errorf("call: %w", a), a)
	assert.NotErrorIs(t, a, b, "each call returns a distinct sentinel")
	assert.Equal(t, "pkg: refused", a.Error())
}
