// Package retry is the outside driver for retrytest: its tests hold a
// dead-letter sink written as a sink's author outside bulwark would write
// one, with bulwark's exported packages only, to retrytest.Run, and show
// that the suite fails the same sink with each of several deliberate flaws.
package retry
