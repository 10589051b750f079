// Package consume is the outside driver for consumetest: its tests hold a
// Source written as a broker adapter's author outside bulwark would write
// one, with bulwark's exported packages only, to consumetest.Run, and show
// that the suite fails the same Source with each of several deliberate
// flaws.
package consume
