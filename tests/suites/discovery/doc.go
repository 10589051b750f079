// Package discovery is the outside driver for discoverytest: its tests hold
// a discovery.Resolver written as a registry adapter's author outside
// bulwark would write one, with bulwark's exported packages only (a small
// in-memory registry that wakes its watchers on each change), to
// discoverytest.Run, and show that the suite fails the same resolver with
// each of several deliberate flaws.
package discovery
