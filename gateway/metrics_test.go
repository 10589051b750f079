package gateway_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulwark-go/bulwark/gateway"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The gateway's metrics count requests per route, status and endpoint, and
// ejections per endpoint.
func TestMetricsPerRouteAndEndpoint(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := gateway.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	live, dead := upstream(t, echo("live")), broken(t)
	cfg := testConfig()
	cfg.Observer = m
	g, srv := start(t, doc(t, `
upstreams:
  a:
    endpoints: ["{dead}", "{live}"]
    outlier: {consecutive_failures: 1, ejection_time: 1h, max_ejected_percent: 50}
routes: [{name: orders, match: /orders, upstream: a, policies: {retry: {max_attempts: 2, backoff: 1ms}}}]
`, "{dead}", dead, "{live}", live), cfg, "")
	waitServed(t, srv.URL+"/orders") // one 200 once the pool has its endpoints
	for range 10 {
		if status, _, _ := get(t, srv.URL+"/orders"); status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
	}
	bad := &gateway.Document{Upstreams: map[string]gateway.Upstream{"a": {Endpoints: []string{"nowhere"}}}}
	if err := g.Reload(bad); err == nil {
		t.Fatal("a document with a bad endpoint was applied")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	served, ejected, refused := int64(0), int64(0), int64(0)
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch data := mt.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					route, _ := dp.Attributes.Value("http.route")
					status, _ := dp.Attributes.Value("http.response.status_code")
					addr, _ := dp.Attributes.Value("server.address")
					if route.AsString() == "orders" && status.AsInt64() == 200 && addr.AsString() == live {
						served += int64(dp.Count)
					}
				}
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					switch mt.Name {
					case "bulwark.gateway.endpoint.ejections":
						if v, _ := dp.Attributes.Value("server.address"); v.AsString() == dead {
							ejected += dp.Value
						}
					case "bulwark.gateway.reloads":
						if dp.Attributes.HasValue("bulwark.outcome") {
							if v, _ := dp.Attributes.Value("bulwark.outcome"); v == attribute.StringValue("refused") {
								refused += dp.Value
							}
						}
					}
				}
			}
		}
	}
	if served != 11 {
		t.Errorf("requests recorded for route orders, 200, endpoint %s = %d, want 11 (the probe's and 10)", live, served)
	}
	if ejected != 1 {
		t.Errorf("ejections of %s = %d, want 1", dead, ejected)
	}
	if refused != 1 {
		t.Errorf("refused reloads = %d, want 1", refused)
	}
}
