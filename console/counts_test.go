package console

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEventCountsLoseNothing: events counted from many goroutines while
// new components and kinds keep replacing the snapshot are all counted,
// each under its own component and kind, whether the snapshot is searched
// as a list (12 counters) or through its maps (24, past scanLimit).
func TestEventCountsLoseNothing(t *testing.T) {
	for _, components := range []int{2, 4} {
		t.Run(fmt.Sprint("components=", components), func(t *testing.T) {
			var ec eventCounts
			const workers, perKind, kinds = 8, 200, 6
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range perKind * kinds * components {
						k := (i + w) % (kinds * components)
						ec.count(fmt.Sprint("comp-", k%components), fmt.Sprint("kind-", k/components))
					}
				})
			}
			wg.Wait()
			require.Len(t, ec.counts.Load().list, kinds*components)
			now := time.Now()
			for c := range components {
				rates := ec.rates(fmt.Sprint("comp-", c), now)
				require.Len(t, rates, kinds)
				for k, r := range rates {
					require.Equal(t, EventRate{Kind: fmt.Sprint("kind-", k), Count: workers * perKind}, r)
				}
			}
			require.Empty(t, ec.rates("comp-x", now))
		})
	}
}
