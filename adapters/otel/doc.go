// Package otel holds bulwark's OpenTelemetry instrumentation, in package
// otelbulwark: a bulwark.Observer that records every component's events as
// metrics and span events, gauges of the components' state, a tracing
// policy, and trace context carried through outbox messages. It is its own
// module, so that only programs that use OpenTelemetry depend on it.
package otel
