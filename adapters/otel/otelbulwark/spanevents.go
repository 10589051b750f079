package otelbulwark

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/bulwark-go/bulwark"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// addSpanEvent adds e to the span in ctx, when that span is recording, as
// an event named e.Kind() with bulwark.name and e's fields (LogValue) as
// attributes under bulwark.<kind>: bulwark.retry.retried.attempt. (The
// kind keeps them apart from the metrics' names and attributes, whose
// units may differ.)
func addSpanEvent(ctx context.Context, e bulwark.Event) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	kind := e.Kind()
	attrs := appendValue([]attribute.KeyValue{nameKey.String(e.Component())}, "bulwark."+kind, e.LogValue())
	span.AddEvent(kind, trace.WithAttributes(attrs...))
}

// appendValue appends v to attrs under key: a group's members under
// key.member, durations in seconds, times in RFC 3339, errors and other
// values as their text.
func appendValue(attrs []attribute.KeyValue, key string, v slog.Value) []attribute.KeyValue {
	v = v.Resolve()
	k := attribute.Key(key)
	switch v.Kind() {
	case slog.KindGroup:
		for _, a := range v.Group() {
			attrs = appendValue(attrs, key+"."+a.Key, a.Value)
		}
		return attrs
	case slog.KindString:
		return append(attrs, k.String(v.String()))
	case slog.KindInt64:
		return append(attrs, k.Int64(v.Int64()))
	case slog.KindUint64:
		return append(attrs, k.Int64(int64(min(v.Uint64(), math.MaxInt64))))
	case slog.KindFloat64:
		return append(attrs, k.Float64(v.Float64()))
	case slog.KindBool:
		return append(attrs, k.Bool(v.Bool()))
	case slog.KindDuration:
		return append(attrs, k.Float64(v.Duration().Seconds()))
	case slog.KindTime:
		return append(attrs, k.String(v.Time().Format(time.RFC3339Nano)))
	}
	switch x := v.Any().(type) {
	case nil:
		return attrs
	case error:
		return append(attrs, k.String(x.Error()))
	default:
		return append(attrs, k.String(fmt.Sprint(x)))
	}
}
