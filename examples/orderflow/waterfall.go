package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// waterfallWidth is the width of a waterfall's bars, in characters.
const waterfallWidth = 40

// printWaterfall prints the trace of one completed order (pickTrace) as a
// waterfall, or says why there is none.
func printWaterfall(s *story, f facts) {
	order, trace := pickTrace(f)
	if trace == "" {
		s.plain("\nNo completed order has a complete trace to show.\n")
		return
	}
	var spans []spanRecord
	for _, sp := range f.traces {
		if sp.Trace == trace {
			spans = append(spans, sp)
		}
	}
	s.plain("\n%s", waterfall(fmt.Sprintf("The trace of %s (%s), one of the completed orders", order, f.orderKey[order]), spans))
}

// pickTrace picks the completed order to show: of those whose trace is
// complete (every service it crossed, no broken link), the one with the
// fewest spans (its steps went through at the first try), the first by
// ID among those. It returns "" when there is none.
func pickTrace(f facts) (order, trace string) {
	traces, _ := orderTraces(f.traces)
	count := map[string]int{}
	for _, s := range f.traces {
		count[s.Trace]++
	}
	var best string
	for o, st := range f.sagas {
		t, ok := traces[o]
		if st != saga.Completed || !ok {
			continue
		}
		one := facts{traces: f.traces, orderKey: map[string]string{o: f.orderKey[o]}, sagas: map[string]saga.Status{o: st}}
		if !traceCheck(one).OK {
			continue
		}
		if best == "" || count[t] < count[traces[best]] || (count[t] == count[traces[best]] && o < best) {
			best = o
		}
	}
	if best == "" {
		return "", ""
	}
	return best, traces[best]
}

// waterfall draws spans (of one trace) as an indented tree, each child
// under its parent, in the order they started, with its service, its
// start after the trace's and its duration, and a bar on the trace's time
// line. A span whose parent is not among spans is drawn as a root.
func waterfall(title string, spans []spanRecord) string {
	if len(spans) == 0 {
		return title + ": no spans\n"
	}
	ids := map[string]bool{}
	start, end := spans[0].Start, spans[0].End
	services := map[string]bool{}
	for _, s := range spans {
		ids[s.ID] = true
		services[s.Service] = true
		if s.Start.Before(start) {
			start = s.Start
		}
		if s.End.After(end) {
			end = s.End
		}
	}
	children := map[string][]spanRecord{}
	for _, s := range spans {
		parent := s.Parent
		if !ids[parent] {
			parent = ""
		}
		children[parent] = append(children[parent], s)
	}
	for _, c := range children {
		slices.SortStableFunc(c, func(a, b spanRecord) int { return cmp.Compare(a.Start.UnixNano(), b.Start.UnixNano()) })
	}
	total := max(end.Sub(start), time.Microsecond)

	type line struct {
		depth int
		s     spanRecord
	}
	var lines []line
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range children[parent] {
			lines = append(lines, line{depth, s})
			walk(s.ID, depth+1)
		}
	}
	walk("", 0)
	nameWidth := len("span")
	for _, l := range lines {
		nameWidth = max(nameWidth, 2*l.depth+len([]rune(l.s.Name)))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s: trace %s, %d spans across %d services, %v\n", title, spans[0].Trace, len(spans), len(services), round(total))
	fmt.Fprintf(&b, "  %-13s %-*s %9s %9s\n", "service", nameWidth, "span", "start", "duration")
	for _, l := range lines {
		off, d := l.s.Start.Sub(start), l.s.End.Sub(l.s.Start)
		from := int(int64(off) * waterfallWidth / int64(total))
		n := max(1, int(int64(d)*waterfallWidth/int64(total)))
		from = min(from, waterfallWidth-1)
		n = min(n, waterfallWidth-from)
		mark := ""
		if l.s.Failed {
			mark = " ✗"
		}
		name := strings.Repeat("  ", l.depth) + l.s.Name
		pad := nameWidth - len([]rune(name))
		fmt.Fprintf(&b, "  %-13s %s%s %9v %9v |%s%s%s|%s\n", l.s.Service, name, strings.Repeat(" ", pad), round(off), round(d),
			strings.Repeat(" ", from), strings.Repeat("█", n), strings.Repeat(" ", waterfallWidth-from-n), mark)
	}
	return b.String()
}

// round rounds d for a waterfall: to 0.1ms under a second, to 1ms above.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
