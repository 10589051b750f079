// Package tests holds bulwark's tests that no single module owns: fault
// tests that combine two engines (a relay from PostgreSQL to NATS
// JetStream) and the runs of every conformance suite by drivers written
// outside the suites' own module, as a driver's author would write them.
//
// It is a module of its own so that its dependencies (every engine at
// once) reach no user's module graph, and it is never released.
package tests
