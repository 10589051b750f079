package consume_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// lease is the broker's: a delivery not settled or extended within it is
// delivered again.
const lease = 200 * time.Millisecond

// TestConformance holds the source to consumetest; in a child process of
// TestSuiteCatchesFlaws, the source with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	consumetest.Run(t, func(t *testing.T) consumetest.Harness {
		b := &broker{flaw: flaw, lease: lease}
		return consumetest.Harness{
			NewSource: func(*testing.T) consume.Source { return &source{b: b} },
			Publish:   func(_ *testing.T, _ context.Context, msgs ...consume.Message) { b.publish(msgs...) },
			Lease:     lease,
		}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "ack-forgets", Fails: []string{"Delivery", "DeadLetterPermanent", "NoLossAcrossRestart"}, Says: []string{"a settled message came back"}},
		{Name: "release-acks", Fails: []string{"ShutdownNeverDeadLetters", "DrainOnClose"}},
		{Name: "redeliver-drops", Fails: []string{"RedeliveryUnkeyed"}},
		{Name: "attempt-stuck", Fails: []string{"RedeliveryUnkeyed", "DeadLetterAfterMaxAttempts"}},
		{Name: "drops-headers", Fails: []string{"Delivery", "RedeliveryUnkeyed"}},
		{Name: "reorders", Fails: []string{"KeyOrder", "NoLossAcrossRestart"}},
		{Name: "extend-ignored", Fails: []string{"LeaseExtended"}, Says: []string{"its lease was not extended"}},
		{Name: "over-delivers", Fails: []string{"NoLossAcrossRestart"}, Says: []string{"returned 17 deliveries and no error, want 1 to 16"}},
	})
}
