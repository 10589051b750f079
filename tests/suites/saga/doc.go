// Package saga is the outside driver for sagatest: its tests hold a
// saga.Store written as a driver's author outside bulwark would write one,
// with bulwark's exported packages only (a thin store of its own over
// saga.MemoryStore), to sagatest.Run, and show that the suite fails the
// same store with each of several deliberate flaws.
package saga
