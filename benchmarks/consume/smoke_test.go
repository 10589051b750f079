package consume

import (
	"testing"
	"time"
)

// TestEveryConsumerHandlesEveryMessage runs each measured consumer as the
// benchmarks do, on a few messages, and checks that every message is
// handled once and acknowledged on the server, so that the benchmarks keep
// measuring what they say (a consumer that stalls, such as watermill's
// paused consumer not resuming, fails here instead of hanging a run).
func TestEveryConsumerHandlesEveryMessage(t *testing.T) {
	for _, w := range []work{emptyWork, pgWork} {
		w.n = 300
		for _, im := range impls(w) {
			t.Run(w.name+"/"+im.name, func(t *testing.T) {
				e := newEnv(t, w)
				if im.init != nil {
					im.init(t, e)
				}
				for range 2 { // the second round reuses the durable consumer
					e.publish(t, w.n)
					e.counter.reset(w.n)
					start, stop := im.prepare(t, e)
					start()
					select {
					case <-e.counter.done:
					case <-time.After(time.Minute):
						t.Fatalf("%d of %d messages handled after a minute", e.counter.n.Load(), w.n)
					}
					e.acked(t, im.durable)
					stop()
					// watermill's handles one more (see watermillImpl).
					if got := e.counter.n.Load(); got != int64(w.n) && got != int64(w.n+1) {
						t.Fatalf("handled %d messages, want %d", got, w.n)
					}
				}
			})
		}
	}
}
