package otelbulwark_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocListsExactlyTheMetrics checks the package doc's table of metrics
// against the instruments New creates: the same names, kinds and units.
func TestDocListsExactlyTheMetrics(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("telemetry.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{} // name → "kind unit"
	for line := range strings.Lines(string(doc)) {
		rest, ok := strings.CutPrefix(line, "//\tbulwark.")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		name, kind := "bulwark."+f[0], f[1]
		if kind == "up-down" {
			kind, f = "up-down counter", f[1:]
		}
		documented[name] = kind + " " + f[2]
	}
	kinds := map[string]string{
		"counter": "counter", "tallied": "counter", "observedCounter": "counter",
		"intGauge": "gauge", "floatGauge": "gauge", "recordedGauge": "gauge",
		"upDown": "up-down counter",
	}
	created := map[string]string{}
	for _, m := range regexp.MustCompile(`mk\.(\w+)\("(bulwark\.[a-z_.]+)",\s*"([^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if m[1] == "seconds" { // a histogram in seconds: mk.seconds(name, description, bounds)
			created[m[2]] = "histogram s"
			continue
		}
		created[m[2]] = kinds[m[1]] + " " + m[3]
	}
	if len(created) < 40 {
		t.Fatalf("found %d instruments in telemetry.go: is the pattern out of date?", len(created))
	}
	for name, want := range created {
		if got, ok := documented[name]; !ok {
			t.Errorf("%s (%s) is not in the package doc", name, want)
		} else if got != want {
			t.Errorf("%s: the package doc says %q, New creates %q", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := created[name]; !ok {
			t.Errorf("%s is in the package doc but New does not create it", name)
		}
	}
}
