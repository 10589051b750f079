// Package configsource is the outside driver for configsourcetest: its
// tests hold a configsource.Source written as a configuration store's
// author outside bulwark would write one, with bulwark's exported packages
// only (a small in-memory store that keeps every revision of a document,
// which a watcher reads in order), to configsourcetest.Run, and show that
// the suite fails the same source with each of several deliberate flaws.
package configsource
