package hedge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLatenciesNearestRankPercentile(t *testing.T) {
	tests := []struct {
		percent float64
		want    time.Duration
	}{
		{100, 100}, {99, 99}, {95, 95}, {50, 50}, {1, 1}, {0.5, 1},
	}
	for _, tt := range tests {
		l := newLatencies(tt.percent, 100)
		for i := 100; i >= 1; i-- { // out of order on purpose
			l.record(time.Duration(i))
		}
		got, ok := l.percentile()
		assert.True(t, ok)
		assert.Equal(t, tt.want, got, "p%v", tt.percent)
	}
}

func TestLatenciesUnknownUntilTheWindowIsFull(t *testing.T) {
	l := newLatencies(50, 3)
	for range 2 {
		l.record(time.Second)
		_, ok := l.percentile()
		assert.False(t, ok)
	}
	l.record(time.Second)
	got, ok := l.percentile()
	assert.True(t, ok)
	assert.Equal(t, time.Second, got)
}

func TestLatenciesForgetOldSamplesAndRecomputeEveryTenth(t *testing.T) {
	l := newLatencies(95, 20) // recomputed every 2 samples
	for range 20 {
		l.record(10 * time.Millisecond)
	}
	l.record(time.Second)
	got, _ := l.percentile()
	assert.Equal(t, 10*time.Millisecond, got, "not recomputed after one sample")
	l.record(time.Second)
	got, _ = l.percentile()
	assert.Equal(t, time.Second, got, "two slow calls in twenty make the 95th percentile slow")
	for range 20 {
		l.record(20 * time.Millisecond)
	}
	got, _ = l.percentile()
	assert.Equal(t, 20*time.Millisecond, got, "the slow calls left the window")
}
