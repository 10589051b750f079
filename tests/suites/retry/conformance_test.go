package retry_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/retry/retrytest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// TestConformance holds the sink to retrytest; in a child process of
// TestSuiteCatchesFlaws, the sink with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	retrytest.Run(t, func(t *testing.T) retrytest.Harness {
		q := new(queue)
		return retrytest.Harness{Sink: &sink{q: q, flaw: flaw}, ReadBack: q.readBack}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "drops-attempts", Fails: []string{"RoundTrip", "ThroughHandler", "ManyAttemptsAndOddText"}},
		{Name: "millisecond-times", Fails: []string{"RoundTrip", "ManyAttemptsAndOddText", "ZeroItemAndNoCause"}},
		{Name: "first-line-only", Fails: []string{"ManyAttemptsAndOddText"}},
		{Name: "bounded-queue", Fails: []string{"ConcurrentLetters"}},
		{Name: "ignores-context", Fails: []string{"CancelledContext", "ExpiredContext"}},
	})
}
