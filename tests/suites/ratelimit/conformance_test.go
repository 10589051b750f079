package ratelimit_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// TestConformance holds the store, and a peer on the same server, to
// ratelimittest.Run; in a child process of TestSuiteCatchesFlaws, the
// store with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Harness {
		srv, peerSrv := newServer(), newServer()
		if flaw != "peers-apart" {
			peerSrv = srv
		}
		return ratelimittest.Harness{Store: &store{srv: srv, flaw: flaw}, Peer: &store{srv: peerSrv, flaw: flaw}}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "decides-at-given-time", Fails: []string{"LateArrivalsAreDecidedAtTheLatestTime"}, Says: []string{"a late call decided at its own time"}},
		{Name: "records-rejections", Fails: []string{"RejectionsRecordNothing", "TokenBucketBurstThenRate", "SlidingWindowWeighsThePreviousWindow", "RetryAfterIsExact"}},
		{Name: "refills-past-burst", Fails: []string{"TokenBucketRefillsToBurstOnly"}},
		{Name: "fixed-window", Fails: []string{"SlidingWindowWeighsThePreviousWindow", "SlidingWindowLimitOne", "SlidingWindowPeriodChange"}},
		{Name: "windows-from-first-call", Fails: []string{"SlidingWindowWeighsThePreviousWindow"}},
		{Name: "millisecond-waits", Fails: []string{"SlidingWindowWeighsThePreviousWindow", "RetryAfterIsExact"}, Says: []string{"a call 1ns before the wait ended was permitted"}},
		{Name: "read-then-write", Fails: []string{"ConcurrentTakesAdmitExactlyTheBurst"}, Says: []string{"160 concurrent calls at one instant"}},
		{Name: "peers-apart", Fails: []string{"PeersShareOneLimit"}, Says: []string{"calls through two stores on one state"}},
	})
}
