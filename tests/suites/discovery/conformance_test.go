package discovery_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/discovery/discoverytest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// TestConformance holds the resolver to discoverytest; in a child process
// of TestSuiteCatchesFlaws, the resolver with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		g := newRegistry()
		return discoverytest.Harness{
			Resolver: &resolver{g: g, flaw: flaw},
			Set:      func(_ *testing.T, service string, eps []discovery.Endpoint) { g.set(service, eps) },
		}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "unsorted", Fails: []string{"SortedAndDistinct"}, Says: []string{"not sorted by Addr"}},
		{Name: "never-closes", Fails: []string{"ClosesWhenContextEnds"}, Says: []string{"still open"}},
		{Name: "drops-current", Fails: []string{"CurrentSetFirst", "UnknownServiceIsEmpty"}, Says: []string{"no update delivered"}},
		{Name: "nil-empty", Fails: []string{"UnknownServiceIsEmpty", "FollowsChanges"}, Says: []string{"an empty set is an empty slice"}},
		{Name: "mixes-services", Fails: []string{"ServicesAreSeparate"}, Says: []string{"after svc-"}},
		{Name: "accepts-empty-name", Fails: []string{"EmptyNameRefused"}},
	})
}
