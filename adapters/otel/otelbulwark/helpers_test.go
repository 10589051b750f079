package otelbulwark_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// rig is a Telemetry on an SDK meter and tracer whose output the test reads.
type rig struct {
	tel    *otelbulwark.Telemetry
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
}

func newRig(t *testing.T, keys bool) *rig { return newRigTB(t, keys) }

func newRigB(b *testing.B) *rig { return newRigTB(b, false) }

func newRigTB(t testing.TB, keys bool) *rig {
	t.Helper()
	return newRigConfig(t, otelbulwark.Config{Keys: keys})
}

// newRigConfig returns a rig whose Telemetry has cfg's Keys and Clock.
func newRigConfig(t testing.TB, cfg otelbulwark.Config) *rig {
	t.Helper()
	r := &rig{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	if _, bench := t.(*testing.B); bench {
		// Benchmarks must not keep every span they make.
		r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discardSpans{}))
	}
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = r.tp.Shutdown(context.Background())
	})
	tel, err := otelbulwark.New(otelbulwark.Config{
		MeterProvider:  mp,
		TracerProvider: r.tp,
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Keys:           cfg.Keys,
		Clock:          cfg.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	return r
}

// newTelemetryWithTracer returns a Telemetry on tp and a no-op meter.
func newTelemetryWithTracer(t *testing.T, tp trace.TracerProvider) *otelbulwark.Telemetry {
	t.Helper()
	tel, err := otelbulwark.New(otelbulwark.Config{TracerProvider: tp, MeterProvider: metricnoop.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// collect reads every metric the rig's meter holds now.
func (r *rig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelbulwark.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelbulwark.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// collectErr collects and returns the reader's error.
func (r *rig) collectErr() error {
	var rm metricdata.ResourceMetrics
	return r.reader.Collect(context.Background(), &rm)
}

// pt is a data point a test expects: attributes and a value.
type pt[N int64 | float64] struct {
	attrs []attribute.KeyValue
	value N
}

func p[N int64 | float64](value N, attrs ...attribute.KeyValue) pt[N] {
	return pt[N]{attrs: attrs, value: value}
}

func dataPoints[N int64 | float64](pts []pt[N]) []metricdata.DataPoint[N] {
	out := make([]metricdata.DataPoint[N], len(pts))
	for i, p := range pts {
		out[i] = metricdata.DataPoint[N]{Attributes: attribute.NewSet(p.attrs...), Value: p.value}
	}
	return out
}

func metricOf(t *testing.T, got map[string]metricdata.Metrics, name, unit string) (metricdata.Metrics, bool) {
	t.Helper()
	m, ok := got[name]
	if !ok {
		t.Errorf("%s: not collected", name)
		return m, false
	}
	if m.Unit != unit {
		t.Errorf("%s: unit %q, want %q", name, m.Unit, unit)
	}
	if m.Description == "" {
		t.Errorf("%s: no description", name)
	}
	return m, true
}

// wantCounter checks that the monotonic cumulative sum name holds exactly pts.
func wantCounter[N int64 | float64](t *testing.T, got map[string]metricdata.Metrics, name, unit string, pts ...pt[N]) {
	t.Helper()
	wantSum(t, got, name, unit, true, pts...)
}

// wantUpDown checks that the non-monotonic sum name holds exactly pts.
func wantUpDown[N int64 | float64](t *testing.T, got map[string]metricdata.Metrics, name, unit string, pts ...pt[N]) {
	t.Helper()
	wantSum(t, got, name, unit, false, pts...)
}

func wantSum[N int64 | float64](t *testing.T, got map[string]metricdata.Metrics, name, unit string, monotonic bool, pts ...pt[N]) {
	t.Helper()
	m, ok := metricOf(t, got, name, unit)
	if !ok {
		return
	}
	want := metricdata.Sum[N]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: monotonic, DataPoints: dataPoints(pts)}
	if !metricdatatest.AssertAggregationsEqual(t, want, m.Data, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()) {
		t.Errorf("%s: see above", name)
	}
}

// wantGauge checks that the gauge name holds exactly pts.
func wantGauge[N int64 | float64](t *testing.T, got map[string]metricdata.Metrics, name, unit string, pts ...pt[N]) {
	t.Helper()
	m, ok := metricOf(t, got, name, unit)
	if !ok {
		return
	}
	want := metricdata.Gauge[N]{DataPoints: dataPoints(pts)}
	if !metricdatatest.AssertAggregationsEqual(t, want, m.Data, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()) {
		t.Errorf("%s: see above", name)
	}
}

// wantHistogram checks that the histogram name holds, per attribute set,
// exactly the values given (their count and sum; and each value's bucket).
func wantHistogram(t *testing.T, got map[string]metricdata.Metrics, name string, want map[attribute.Set][]float64) {
	t.Helper()
	m, ok := metricOf(t, got, name, "s")
	if !ok {
		return
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, want a float64 histogram", name, m.Data)
	}
	if len(h.DataPoints) != len(want) {
		t.Errorf("%s: %d series, want %d: %+v", name, len(h.DataPoints), len(want), h.DataPoints)
	}
	for _, dp := range h.DataPoints {
		values, ok := want[dp.Attributes]
		if !ok {
			t.Errorf("%s: unexpected series %v", name, dp.Attributes.ToSlice())
			continue
		}
		var sum float64
		for _, v := range values {
			sum += v
		}
		if dp.Count != uint64(len(values)) || !near(dp.Sum, sum) {
			t.Errorf("%s %v: count %d sum %g, want %d and %g", name, dp.Attributes.ToSlice(), dp.Count, dp.Sum, len(values), sum)
		}
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func set(attrs ...attribute.KeyValue) attribute.Set { return attribute.NewSet(attrs...) }

// absent checks that nothing was collected under name.
func absent(t *testing.T, got map[string]metricdata.Metrics, names ...string) {
	t.Helper()
	for _, name := range names {
		if m, ok := got[name]; ok {
			t.Errorf("%s: collected %+v, want nothing", name, m.Data)
		}
	}
}

var (
	attrName  = attribute.Key("bulwark.name")
	attrKey   = attribute.Key("bulwark.key")
	errorType = attribute.Key("error.type")
)

func atomicAdd(n *int32) int32 { return atomic.AddInt32(n, 1) }

// discardSpans is a span processor that keeps nothing.
type discardSpans struct{}

func (discardSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discardSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discardSpans) Shutdown(context.Context) error                  { return nil }
func (discardSpans) ForceFlush(context.Context) error                { return nil }
