// Package ratelimit is the outside driver for ratelimittest: its tests
// hold a ratelimit.Store written as a store's author outside bulwark would
// write one, with bulwark's exported packages only (each key's state an
// encoded record on a small key-value server of its own, read, decided
// and written back atomically, with a second client on the same server as
// the suite's Peer), to ratelimittest.Run, and show that the suite fails
// the same store with each of several deliberate flaws.
package ratelimit
