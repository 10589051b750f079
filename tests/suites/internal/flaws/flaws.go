// Package flaws runs a conformance suite on deliberately broken drivers,
// each in a child process, and checks that the suite fails each one where
// it should. It is internal to the tests module.
//
// A suite's driver package has one test that runs the suite on its driver,
// with the flaw that Current names (none in an ordinary run), and one that
// calls Check with the flaws and the subtests that must catch them:
//
//	func TestConformance(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) outboxtest.Harness { return newHarness(t, flaws.Current()) })
//	}
//
//	func TestSuiteCatchesFlaws(t *testing.T) {
//		flaws.Check(t, "TestConformance", []flaws.Flaw{{Name: "reverses-batch", Fails: []string{"ClaimOrderAndLimit"}}})
//	}
package flaws

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Var names, in a child process, the flaw of the driver it runs the suite
// on.
const Var = "BULWARK_TESTS_FLAW"

// Current returns the flaw this process's driver has: "" (a correct
// driver) unless the process is a child that Check started.
func Current() string { return os.Getenv(Var) }

// Flaw is a deliberately broken driver and how the suite must report it.
type Flaw struct {
	// Name is the flaw, as the driver knows it.
	Name string
	// Fails lists the subtests (their paths below the test, as "Leases/Renew")
	// that must fail. Empty means the test itself must fail (a suite that
	// is one test).
	Fails []string
	// Says lists texts the child's output must contain: the words of the
	// promise the failure reports.
	Says []string
}

// Check runs test, a test of this binary, once per flaw in a child
// process whose Current is the flaw's name, and checks that the child
// fails, that each subtest in Fails fails (by name) and that the output
// says each text in Says. The child runs only the top-level subtests that
// Fails names (all of them when it names none), so that a flaw that makes
// some other subtest hang does not hold it up. Check logs which subtests
// failed. The children run in parallel with other parallel tests.
func Check(t *testing.T, test string, flaws []Flaw) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flaws {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run="+runPattern(test, f.Fails), "-test.count=1", "-test.v", "-test.timeout=3m")
			cmd.Env = append(os.Environ(), Var+"="+f.Name)
			out, err := cmd.CombinedOutput()
			text := string(out)
			if err == nil {
				t.Fatalf("the suite passed a driver that %s:\n%s", f.Name, text)
			}
			if failed := failedTests(text, test); len(failed) > 0 {
				t.Logf("failed: %s", strings.Join(failed, ", "))
			}
			if len(f.Fails) == 0 && !strings.Contains(text, "--- FAIL: "+test+" ") {
				t.Errorf("%s did not fail:\n%s", test, text)
			}
			for _, name := range f.Fails {
				if !strings.Contains(text, "--- FAIL: "+test+"/"+name+" ") {
					t.Errorf("%s/%s did not fail:\n%s", test, name, text)
				}
			}
			for _, s := range f.Says {
				if !strings.Contains(text, s) {
					t.Errorf("the output does not say %q:\n%s", s, text)
				}
				for line := range strings.Lines(text) {
					if strings.Contains(line, s) {
						t.Logf("says: %s", strings.TrimSpace(line))
					}
				}
			}
		})
	}
}

// runPattern returns the -test.run pattern that selects test and, when
// fails names subtests, their top-level subtests.
func runPattern(test string, fails []string) string {
	pattern := "^" + regexp.QuoteMeta(test) + "$"
	var tops []string
	for _, f := range fails {
		top, _, _ := strings.Cut(f, "/")
		if top = regexp.QuoteMeta(top); !slices.Contains(tops, top) {
			tops = append(tops, top)
		}
	}
	if len(tops) > 0 {
		pattern += "/^(" + strings.Join(tops, "|") + ")$"
	}
	return pattern
}

// failedTests returns the subtests of test that output reports failed,
// leaves only (the deepest of each path).
func failedTests(output, test string) []string {
	re := regexp.MustCompile(`--- FAIL: ` + regexp.QuoteMeta(test) + `/(\S+) `)
	var all []string
	for _, m := range re.FindAllStringSubmatch(output, -1) {
		all = append(all, m[1])
	}
	var leaves []string
	for _, a := range all {
		leaf := true
		for _, b := range all {
			if strings.HasPrefix(b, a+"/") {
				leaf = false
				break
			}
		}
		if leaf {
			leaves = append(leaves, a)
		}
	}
	return leaves
}
