// Package testenv tells tests where the project's services are, and runs
// child processes for fault tests. It is internal to bulwark's modules.
//
// Integration tests read the service variables below. When a variable is
// unset the test is skipped with a message naming it, unless
// BULWARK_REQUIRE_SERVICES=1, in which case it fails: CI sets that, so a
// missing service can never turn into a silently skipped test.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// The environment variables that point tests at services.
const (
	PostgresVar = "BULWARK_POSTGRES_DSN"   // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	RedisVar    = "BULWARK_REDIS_ADDR"     // 127.0.0.1:6379
	RabbitMQVar = "BULWARK_RABBITMQ_URL"   // amqp://guest:guest@127.0.0.1:5672/
	NATSVar     = "BULWARK_NATS_URL"       // nats://127.0.0.1:4222
	EtcdVar     = "BULWARK_ETCD_ENDPOINTS" // 127.0.0.1:2379 (several: comma-separated)
	ChromiumVar = "BULWARK_CHROMIUM"       // /usr/bin/chromium
	JaegerVar   = "BULWARK_JAEGER"         // a Jaeger v2 binary (.ci/run builds jaeger v1.75.0's cmd/jaeger)
	RequireVar  = "BULWARK_REQUIRE_SERVICES"
)

// Service returns the value of the environment variable name. When it is
// unset, Service skips the test, or fails it if BULWARK_REQUIRE_SERVICES=1.
func Service(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireVar) == "1" {
		t.Fatalf("%s is not set and %s=1: this test needs the service", name, RequireVar)
	}
	t.Skipf("set %s to run this test against a real service", name)
	return ""
}

// Chromium returns BULWARK_CHROMIUM, the browser binary of the console's
// browser tests (see Service).
func Chromium(t testing.TB) string { t.Helper(); return Service(t, ChromiumVar) }

// Jaeger returns BULWARK_JAEGER, the path of the Jaeger binary the
// tracing tests start (see Service).
func Jaeger(t testing.TB) string { t.Helper(); return Service(t, JaegerVar) }

// PostgresDSN returns BULWARK_POSTGRES_DSN (see Service).
func PostgresDSN(t testing.TB) string { t.Helper(); return Service(t, PostgresVar) }

// RedisAddr returns BULWARK_REDIS_ADDR (see Service).
func RedisAddr(t testing.TB) string { t.Helper(); return Service(t, RedisVar) }

// RabbitMQURL returns BULWARK_RABBITMQ_URL (see Service).
func RabbitMQURL(t testing.TB) string { t.Helper(); return Service(t, RabbitMQVar) }

// NATSURL returns BULWARK_NATS_URL (see Service).
func NATSURL(t testing.TB) string { t.Helper(); return Service(t, NATSVar) }

// EtcdEndpoints returns the endpoints in BULWARK_ETCD_ENDPOINTS, split at
// commas (see Service).
func EtcdEndpoints(t testing.TB) []string {
	t.Helper()
	var eps []string
	for ep := range strings.SplitSeq(Service(t, EtcdVar), ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	return eps
}

// SkipUnderRace skips a heavy fault test in a -race build. CI runs those
// tests in their own step without -race (the README's test command), where
// the race detector's 5-10x slowdown would not fit the time budget.
func SkipUnderRace(t testing.TB) {
	t.Helper()
	if RaceEnabled {
		t.Skip("heavy fault test: runs without -race (go test without -race runs it)")
	}
}
