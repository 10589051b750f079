// Package grpcotel checks that bulwarkgrpc's client interceptor and
// OpenTelemetry's otelgrpc stats handler line up: the span of the call's
// policy (otelbulwark's Trace) carries bulwark's events (each retry, each
// failed attempt), every attempt is an otelgrpc client span under it, and
// the trace context reaches the server, whose span is a child of the
// attempt that reached it.
package grpcotel
