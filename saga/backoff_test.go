package saga

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffDoublesWithJitterUpToTheMaximum(t *testing.T) {
	o := &Orchestrator[struct{}]{cfg: Config{RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}}
	for _, tc := range []struct {
		failures int
		base     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	} {
		lowest, highest := tc.base, time.Duration(0)
		for range 2000 {
			d := o.backoff(tc.failures)
			lowest, highest = min(lowest, d), max(highest, d)
		}
		assert.GreaterOrEqual(t, lowest, tc.base/2, "failure %d: jitter takes off at most half", tc.failures)
		assert.LessOrEqual(t, highest, tc.base, "failure %d", tc.failures)
		assert.Less(t, lowest, tc.base*6/10, "failure %d: the waits are spread", tc.failures)
		assert.Greater(t, highest, tc.base*9/10, "failure %d", tc.failures)
	}
}
