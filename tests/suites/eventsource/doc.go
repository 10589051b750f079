// Package eventsource is the outside driver for eventsourcetest: its tests
// hold an event store written as a driver's author outside bulwark would
// write one, with bulwark's exported packages only (a thin store of its
// own over eventsource.MemoryStore, or over SQLite's store where a writer
// process is killed), to eventsourcetest.Run and RunCrash, and show that
// the suites fail the same store with each of several deliberate flaws.
package eventsource
