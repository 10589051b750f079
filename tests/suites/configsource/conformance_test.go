package configsource_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/configsource/configsourcetest"
	"github.com/bulwark-go/bulwark/tests/suites/internal/flaws"
)

// TestConformance holds the source to configsourcetest; in a child process
// of TestSuiteCatchesFlaws, the source with the flaw it names.
func TestConformance(t *testing.T) {
	flaw := flaws.Current()
	configsourcetest.Run(t, func(t *testing.T) configsourcetest.Harness {
		s := newStore()
		return configsourcetest.Harness{
			Source: &source{s: s, flaw: flaw},
			Write:  func(_ *testing.T, data []byte) { s.write(data) },
		}
	})
}

// TestSuiteCatchesFlaws: each flaw fails the subtests that guard the
// promise it breaks.
func TestSuiteCatchesFlaws(t *testing.T) {
	flaws.Check(t, "TestConformance", []flaws.Flaw{
		{Name: "repeats", Fails: []string{"NeverTheSameDataTwiceInARow"}, Says: []string{"delivered twice in a row"}},
		{Name: "never-closes", Fails: []string{"ClosesWhenContextEnds"}, Says: []string{"still open"}},
		{Name: "drops-current", Fails: []string{"CurrentVersionFirst"}, Says: []string{"current version not delivered"}},
		{Name: "no-version", Fails: []string{"FollowsNewVersions", "NeverTheSameDataTwiceInARow"}, Says: []string{"without a Version"}},
		{Name: "constant-version", Fails: []string{"FollowsNewVersions"}, Says: []string{"two versions share Version"}},
	})
}
