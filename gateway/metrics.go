package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics records the gateway's requests and its pools' endpoints as
// OpenTelemetry metrics. It is a bulwark.Observer: give it to Config.Observer
// beside otelbulwark's Telemetry (bulwark.Observers(telemetry, metrics)),
// which records the routes' policies (each named after its route), and it
// records:
//
//   - http.server.request.duration (histogram, seconds) per request, with
//     http.route (the route's name), http.request.method,
//     http.response.status_code, bulwark.upstream and server.address (the
//     endpoint of the last attempt; absent when none was tried);
//   - bulwark.gateway.endpoint.ejections and .restorations (counters) and
//     bulwark.gateway.endpoint.health_changes (counter, with
//     bulwark.healthy) per pool and endpoint;
//   - bulwark.gateway.reloads (counter, with bulwark.outcome "applied" or
//     "refused").
//
// Every series also carries bulwark.name, the gateway's or the pool's name.
// Events of other types are ignored. Recording allocates only the
// attribute set of the event; it never blocks.
type Metrics struct {
	duration                        metric.Float64Histogram
	ejections, restorations, health metric.Int64Counter
	reloads                         metric.Int64Counter
}

var _ bulwark.Observer = (*Metrics)(nil)

// NewMetrics makes the gateway's instruments with mp's meter
// "github.com/bulwark-go/bulwark/gateway".
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	if mp == nil {
		return nil, errors.New("gateway: NewMetrics: the meter provider must not be nil")
	}
	m := mp.Meter("github.com/bulwark-go/bulwark/gateway")
	var ms Metrics
	var err, e error
	ms.duration, e = m.Float64Histogram("http.server.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the requests the gateway answered."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	err = errors.Join(err, e)
	ms.ejections, e = m.Int64Counter("bulwark.gateway.endpoint.ejections", metric.WithDescription("Endpoints ejected as outliers."))
	err = errors.Join(err, e)
	ms.restorations, e = m.Int64Counter("bulwark.gateway.endpoint.restorations", metric.WithDescription("Ejected endpoints restored."))
	err = errors.Join(err, e)
	ms.health, e = m.Int64Counter("bulwark.gateway.endpoint.health_changes", metric.WithDescription("Changes of an endpoint's active health."))
	err = errors.Join(err, e)
	ms.reloads, e = m.Int64Counter("bulwark.gateway.reloads", metric.WithDescription("Route tables offered to the gateway, applied or refused."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("gateway: NewMetrics: %w", err)
	}
	return &ms, nil
}

// Observe records e when it is one of the events listed on Metrics.
func (m *Metrics) Observe(ctx context.Context, e bulwark.Event) {
	switch ev := e.(type) {
	case Served:
		attrs := []attribute.KeyValue{
			attribute.String("bulwark.name", ev.Name),
			attribute.String("http.route", ev.Route),
			attribute.String("http.request.method", ev.Method),
			attribute.Int("http.response.status_code", ev.Status),
			attribute.String("bulwark.upstream", ev.Upstream),
		}
		if ev.Endpoint != "" {
			attrs = append(attrs, attribute.String("server.address", ev.Endpoint))
		}
		m.duration.Record(ctx, ev.Duration.Seconds(), metric.WithAttributes(attrs...))
	case upstream.EndpointEjected:
		m.ejections.Add(ctx, 1, endpointAttrs(ev.Name, ev.Addr))
	case upstream.EndpointRestored:
		m.restorations.Add(ctx, 1, endpointAttrs(ev.Name, ev.Addr))
	case upstream.HealthChanged:
		m.health.Add(ctx, 1, metric.WithAttributes(attribute.String("bulwark.name", ev.Name),
			attribute.String("server.address", ev.Addr), attribute.Bool("bulwark.healthy", ev.Healthy)))
	case Reloaded:
		m.reloads.Add(ctx, 1, metric.WithAttributes(attribute.String("bulwark.name", ev.Name), attribute.String("bulwark.outcome", "applied")))
	case ReloadFailed:
		m.reloads.Add(ctx, 1, metric.WithAttributes(attribute.String("bulwark.name", ev.Name), attribute.String("bulwark.outcome", "refused")))
	}
}

func endpointAttrs(pool, addr string) metric.AddOption {
	return metric.WithAttributes(attribute.String("bulwark.name", pool), attribute.String("server.address", addr))
}
