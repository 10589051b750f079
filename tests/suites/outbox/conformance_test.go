package outbox_test

import (
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
	"github.com/google/uuid"
)

// TestConformance holds the store to outboxtest.Run; in a child process of
// TestSuiteCatchesFlaws, the store with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		s := &store{mem: outbox.NewMemoryStore(), flaw: flaw}
		return outboxtest.Harness{Store: s, Enqueue: s.Enqueue}
	})
}

// TestPublisherConformance holds the publisher to outboxtest.RunPublisher;
// in a child process of TestSuiteCatchesFlaws, the publisher with the flaw
// it names.
func TestPublisherConformance(t *testing.T) {
	flaw := flaws.Current()
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness {
		b := &broker{seen: map[uuid.UUID]bool{}}
		return outboxtest.PublisherHarness{
			Publisher: &publisher{b: b, flaw: flaw},
			Receive:   b.receive,
			Limits:    outboxtest.Limits{MaxHeaderName: maxHeaderName, MaxPayload: maxPayload},
		}
	})
}

// TestSuiteCatchesFlaws: each flaw of the store fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "reverses-batch", Fails: []string{"ClaimOrderAndLimit", "RandomInterleavingKeepsKeyOrder"}},
		{Name: "skips-dead-letters", Fails: []string{"DeadLetterBlocksItsKey"}},
		{Name: "claims-before-retry", Fails: []string{"RetryWaitsAndBlocksItsKey"}},
		{Name: "ignores-lease", Fails: []string{"ClaimsNeverShareAKey", "ConcurrentClaimers"}},
		{Name: "headers-as-json", Fails: []string{"BytesRoundTrip"}},
		{Name: "finish-records-then-fails", Fails: []string{"FinishCancelled"}},
	})
}

// TestPublisherSuiteCatchesFlaws: each flaw of the publisher fails the
// subtests that guard the promise it breaks.
func TestPublisherSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestPublisherConformance", []flaws.Flaw{
		{Name: "headers-as-json", Fails: []string{"BytesRoundTrip"}},
		{Name: "ignores-context", Fails: []string{"CancelledContext"}},
		{Name: "swaps-pairs", Fails: []string{"KeyOrder"}},
		{Name: "drops-duplicates", Fails: []string{"Duplicates"}},
		{Name: "no-limits", Fails: []string{"BadInput/HeaderNameTooLong", "BadInput/PayloadTooLarge"}},
	})
}

func timeOfMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
