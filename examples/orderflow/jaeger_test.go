package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
)

// jaegerConfig is the configuration of the test's Jaeger (v2, an
// OpenTelemetry Collector): the all-in-one's memory storage and query
// service, an OTLP/HTTP receiver, nothing else, on the ports the test
// picked; and none of the collector's own metrics, which would take the
// fixed port 8888.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: %s
    grpc:
      endpoint: %s
receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// startJaeger runs the Jaeger binary BULWARK_JAEGER names (testenv.Jaeger)
// on free ports of the loopback interface, waits until its query service
// answers, and returns its OTLP/HTTP address and its query service's URL.
// The test's cleanup stops it.
func startJaeger(t *testing.T) (otlp, query string) {
	t.Helper()
	bin := testenv.Jaeger(t)
	ports := freePorts(t, 3)
	cfg := filepath.Join(t.TempDir(), "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, ports[0], ports[1], ports[2]), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Jaeger (%s): %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("Jaeger's output:\n%s", log.String())
		}
	})
	query = "http://" + ports[0]
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("Jaeger exited at start (%v):\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(query + "/api/services")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ports[2], query
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger's query service on %s did not answer within 60s (%v)", query, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts returns n addresses 127.0.0.1:port that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// jaegerTrace is a trace as Jaeger's query API (/api/traces) returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// services returns the service names of the trace's spans.
func (tr jaegerTrace) services() []string {
	var names []string
	for _, s := range tr.Spans {
		if n := tr.Processes[s.ProcessID].ServiceName; !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// getTraces asks Jaeger's query API for path and decodes its traces.
func getTraces(query, path string) ([]jaegerTrace, error) {
	resp, err := http.Get(query + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data   []jaegerTrace `json:"data"`
		Errors []any         `json:"errors"`
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Data, nil
}

// orderTraceIn finds the trace of order in Jaeger: the trace of the
// order service's span that wrote it (tagged order.id), fetched whole.
func orderTraceIn(query, order string) (jaegerTrace, error) {
	tags, _ := json.Marshal(map[string]string{string(orderIDKey): order})
	found, err := getTraces(query, "/api/traces?service=orders&limit=20&lookback=1h&tags="+url.QueryEscape(string(tags)))
	if err != nil || len(found) == 0 {
		return jaegerTrace{}, err
	}
	whole, err := getTraces(query, "/api/traces/"+found[0].TraceID)
	if err != nil || len(whole) == 0 {
		return jaegerTrace{}, err
	}
	return whole[0], nil
}

// TestTracesReachJaeger runs a real Jaeger, runs the flow with -otlp
// pointed at it, and checks through Jaeger's query API that the traces
// arrived whole: every order's trace holds the shop, the gateway, the order service,
// the relay, the processor and the inventory, with every span's parent in
// the trace, and the trace of each completed order (of those alone) spans
// every service, payments and notifications included.
func TestTracesReachJaeger(t *testing.T) {
	otlp, query := startJaeger(t)
	o := Options{Orders: 24, Seed: 42, Phase: 1500 * time.Millisecond, Dir: t.TempDir(), OTLP: otlp}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	ledger, err := run(ctx, &out, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !ledger.OK() {
		t.Fatalf("a promise was broken:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "exported over OTLP/HTTP to "+otlp) {
		t.Errorf("the story does not say where the spans went:\n%s", out.String())
	}

	every := []string{"gateway", "inventory", "notifications", "orders", "payments", "processor", "relay", "shop"}
	base := []string{"gateway", "inventory", "orders", "processor", "relay", "shop"}
	complete := 0
	for i := 1; i <= o.Orders; i++ {
		order := fmt.Sprintf("order-%04d", i)
		// The run has ended and exported its spans; Jaeger stores them
		// after its batch timeout.
		var tr jaegerTrace
		deadline := time.Now().Add(20 * time.Second)
		for {
			tr, err = orderTraceIn(query, order)
			if err != nil {
				t.Fatalf("asking Jaeger for %s's trace: %v", order, err)
			}
			if tr.TraceID != "" && len(tr.services()) >= len(base) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if tr.TraceID == "" {
			t.Errorf("Jaeger has no trace of %s after 20s", order)
			continue
		}
		services := tr.services()
		for _, s := range base {
			if !slices.Contains(services, s) {
				t.Errorf("%s's trace %s in Jaeger has no span of %s: services %v", order, tr.TraceID, s, services)
			}
		}
		ids := map[string]bool{}
		for _, s := range tr.Spans {
			ids[s.SpanID] = true
		}
		for _, s := range tr.Spans {
			for _, r := range s.References {
				if r.RefType == "CHILD_OF" && !ids[r.SpanID] {
					t.Errorf("%s's trace %s: span %q's parent %s is not in it", order, tr.TraceID, s.OperationName, r.SpanID)
				}
			}
		}
		if slices.Equal(services, every) {
			complete++
			if complete == 1 {
				t.Logf("%s's trace %s in Jaeger: %d spans across %v", order, tr.TraceID, len(tr.Spans), services)
			}
		}
	}
	if complete == 0 {
		t.Errorf("no order's trace in Jaeger spans every service %v", every)
	}
	// Each completed order crossed every service.
	if complete != ledger.Completed {
		t.Errorf("%d orders' traces span every service in Jaeger; %d orders completed", complete, ledger.Completed)
	}
}
