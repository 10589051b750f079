package gateway

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// globalProviderPkg is the package of the global TracerProvider that
// otel.GetTracerProvider returns before otel.SetTracerProvider is called:
// its spans record nothing until a provider is set.
const globalProviderPkg = "go.opentelemetry.io/otel/internal/global"

// setTracer makes the gateway's tracer from tp (the global provider when
// nil) and notes whether tp is a no-op one, so that requests skip span
// work that would record nothing.
func (g *Gateway) setTracer(tp trace.TracerProvider) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	g.tracer = tp.Tracer("github.com/bulwark-go/bulwark/gateway")
	switch {
	case isNoopProvider(tp):
		g.tracing = tracingOff
	case isGlobalDefault(tp):
		g.tracing = tracingUntilSet
		g.unsetGlobal = tp
	default:
		g.tracing = tracingOn
	}
}

// The gateway's tracing modes.
const (
	tracingOn       = iota // spans on every request
	tracingOff             // a no-op provider: no spans
	tracingUntilSet        // the global provider while none is set: spans once one is
)

// spans reports whether a request's server and client spans are to be
// started: not on a no-op provider, nor on the global one while no
// provider has been set (the gateway's tracer delegates to the provider set
// later, and then spans start).
func (g *Gateway) spans() bool {
	switch g.tracing {
	case tracingOff:
		return false
	case tracingUntilSet:
		return otel.GetTracerProvider() != g.unsetGlobal
	}
	return true
}

func isNoopProvider(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return true
	}
	return false
}

func isGlobalDefault(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t.Kind() == reflect.Pointer && t.Elem().PkgPath() == globalProviderPkg
}

// newRequestID returns a random (version 4) UUID in its string form, with
// one allocation.
func newRequestID() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}
