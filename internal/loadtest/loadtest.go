// Package loadtest puts a component under full load while a test changes
// it: the tests of run-time reconfiguration and of switches that must be
// safe during calls.
package loadtest

import "sync"

// While runs call in a loop on each of workers goroutines until change
// returns, then waits for the calls in flight to finish. change starts once
// every worker has made one call, so that it always overlaps the load, even
// on a machine too busy to schedule the workers at once.
func While(workers int, call func(), change func()) {
	stop := make(chan struct{})
	var wg, warm sync.WaitGroup
	warm.Add(workers)
	for range workers {
		wg.Go(func() {
			call()
			warm.Done()
			for {
				select {
				case <-stop:
					return
				default:
					call()
				}
			}
		})
	}
	warm.Wait()
	change()
	close(stop)
	wg.Wait()
}
