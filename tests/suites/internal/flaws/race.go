//go:build race

package flaws

// Race reports whether the race detector is on: the crash suites skip
// themselves under it, so their flaws are checked without it.
const Race = true
