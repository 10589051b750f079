// Package otel holds bulwark's OpenTelemetry instrumentation, in package
// otelbulwark: metrics from every pattern's hooks and state, a tracing
// policy, and trace context carried through outbox messages. It is its own
// module, so that only programs that use OpenTelemetry depend on it.
package otel
