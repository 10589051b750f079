package upstream_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

func TestZeroConfigIsTheDefault(t *testing.T) {
	if _, err := upstream.New(discovery.NewStatic(), "svc", upstream.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := upstream.New(discovery.NewStatic(), "svc", upstream.DefaultConfig()); err != nil {
		t.Fatalf("DefaultConfig refused: %v", err)
	}
}

func TestNewRefusesBadInputNamingIt(t *testing.T) {
	r := discovery.NewStatic()
	if _, err := upstream.New(nil, "svc", upstream.Config{}); err == nil || !strings.Contains(err.Error(), "resolver") {
		t.Errorf("nil resolver: %v", err)
	}
	if _, err := upstream.New(r, "", upstream.Config{}); err == nil || !strings.Contains(err.Error(), "service") {
		t.Errorf("empty service: %v", err)
	}
	for _, tc := range []struct {
		field string
		cfg   upstream.Config
	}{
		{"Scheme", upstream.Config{Scheme: "ftp"}},
		{"Balancer", upstream.Config{Balancer: 7}},
		{"HealthCheck.Path", upstream.Config{HealthCheck: upstream.HealthCheck{Path: "healthz"}}},
		{"HealthCheck.Interval", upstream.Config{HealthCheck: upstream.HealthCheck{Interval: -time.Second}}},
		{"HealthCheck.Timeout", upstream.Config{HealthCheck: upstream.HealthCheck{Timeout: 2 * time.Hour}}},
		{"HealthCheck.HealthyAfter", upstream.Config{HealthCheck: upstream.HealthCheck{HealthyAfter: -1}}},
		{"HealthCheck.UnhealthyAfter", upstream.Config{HealthCheck: upstream.HealthCheck{UnhealthyAfter: 1001}}},
		{"Outlier.ConsecutiveFailures", upstream.Config{Outlier: upstream.Outlier{ConsecutiveFailures: -2}}},
		{"Outlier.EjectionTime", upstream.Config{Outlier: upstream.Outlier{EjectionTime: 25 * time.Hour}}},
		{"Outlier.MaxEjectionTime", upstream.Config{Outlier: upstream.Outlier{EjectionTime: time.Minute, MaxEjectionTime: time.Second}}},
		{"Outlier.MaxEjectedPercent", upstream.Config{Outlier: upstream.Outlier{MaxEjectedPercent: 101}}},
		{"Outlier.MaxEjectedPercent", upstream.Config{Outlier: upstream.Outlier{MaxEjectedPercent: math.NaN()}}},
		{"MaxIdleConnsPerHost", upstream.Config{MaxIdleConnsPerHost: -1}},
		{"DialTimeout", upstream.Config{DialTimeout: -1}},
		{"IdleConnTimeout", upstream.Config{IdleConnTimeout: 48 * time.Hour}},
	} {
		_, err := upstream.New(r, "svc", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field+" must") {
			t.Errorf("%s: err = %v, want one naming Config.%s", tc.field, err, tc.field)
		}
	}
}

func TestBalancerText(t *testing.T) {
	var cfg struct{ Balancer upstream.Balancer }
	if err := json.Unmarshal([]byte(`{"Balancer":"least_outstanding"}`), &cfg); err != nil || cfg.Balancer != upstream.LeastOutstanding {
		t.Fatal(cfg.Balancer, err)
	}
	if out, err := json.Marshal(cfg); err != nil || string(out) != `{"Balancer":"least_outstanding"}` {
		t.Fatal(string(out), err)
	}
	if err := json.Unmarshal([]byte(`{"Balancer":"random"}`), &cfg); err == nil || !strings.Contains(err.Error(), "round_robin") {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := upstream.Balancer(5).MarshalText(); err == nil {
		t.Fatal("MarshalText of an unknown Balancer succeeded")
	}
}

func TestBalancerNames(t *testing.T) {
	if upstream.RoundRobin.String() != "round_robin" || upstream.LeastOutstanding.String() != "least_outstanding" || upstream.Balancer(9).String() != "Balancer(9)" {
		t.Error(upstream.RoundRobin, upstream.LeastOutstanding, upstream.Balancer(9))
	}
}
