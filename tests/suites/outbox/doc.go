// Package outbox is the outside driver for outboxtest: its tests hold an
// outbox.Store (a thin store of its own over outbox.MemoryStore) and an
// outbox.Publisher (to a small in-process broker of its own), written as a
// driver's author outside bulwark would write them with bulwark's exported
// packages only, to outboxtest.Run and outboxtest.RunPublisher, and show
// that the suites fail the same drivers with each of several deliberate
// flaws.
package outbox
