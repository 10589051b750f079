// Package cqrs is the outside driver for cqrstest: its tests hold a
// checkpoint store written as a driver's author outside bulwark would
// write one, with bulwark's exported packages only (a transactional store
// of its own over cqrs.MemoryStore, and one over SQLite's store where
// projector processes are killed), to cqrstest.Run and RunCrash, and show
// that the suites fail the same stores with each of several deliberate
// flaws.
package cqrs
