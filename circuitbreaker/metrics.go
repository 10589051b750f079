package circuitbreaker

// Metrics is a snapshot of a breaker.
//
// Calls, Failures, SlowCalls and the rates describe the sliding window of
// the closed state (and of the disabled state). While the breaker is open or
// half-open they keep the values that tripped it; they start again from zero
// when it closes.
type Metrics struct {
	State State
	// Calls is the number of recorded calls in the window; ignored calls are
	// not recorded.
	Calls int
	// Failures is the number of calls in the window that failed.
	Failures int
	// SlowCalls is the number of calls in the window that were slow
	// (successful or not).
	SlowCalls int
	// FailureRate is Failures as a percentage of Calls (0 when Calls is 0).
	// It can open the breaker only once Calls reaches MinimumCalls.
	FailureRate float64
	// SlowCallRate is SlowCalls as a percentage of Calls (0 when Calls is 0).
	SlowCallRate float64
	// ConsecutiveFailures is the number of failures since the last success.
	ConsecutiveFailures int
	// ProbesAdmitted, ProbeSuccesses and ProbeFailures count the current
	// half-open state's probes; they are 0 in other states.
	ProbesAdmitted, ProbeSuccesses, ProbeFailures int
	// Trips is the number of consecutive trips since the breaker last
	// closed; it sets the growth of the open wait.
	Trips int
	// Rejected is the number of calls rejected (in DryRun: that would have
	// been rejected) since the breaker was made.
	Rejected uint64
}

func rate(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) * 100 / float64(whole)
}
