// Package gateway is an API gateway as an http.Handler: one entry point that
// routes each request to the service that owns it, through bulwark's
// policies, over pools of endpoints found by service discovery, with its
// route table reloaded at run time from a configuration document.
//
// It is a library first (embed a Gateway in your own server, build its
// Document in Go), and the command bulwark-gateway (cmd/bulwark-gateway)
// serves one from a configuration file, at the edge or beside one service as
// its egress proxy (sidecar).
//
// # The document
//
// A Document (YAML or JSON, read with Parse) declares upstreams and routes:
//
//	upstreams:
//	  orders:
//	    discovery: static            # static | dns | etcd (or any Resolver in Config.Resolvers)
//	    endpoints: ["10.0.0.1:8080", "10.0.0.2:8080"]
//	    balancer: least_outstanding  # round_robin (default) | least_outstanding
//	    health_check: {path: /healthz, interval: 5s}
//	    outlier: {consecutive_failures: 5, ejection_time: 30s, max_ejected_percent: 50}
//	routes:
//	  - match: "GET api.example.com/orders/{id}"   # Go ServeMux pattern
//	    upstream: orders
//	    strip_prefix: /api
//	    timeout: 2s
//	    max_body_bytes: 1048576
//	    policies:
//	      retry: {max_attempts: 3}
//	      breaker: {failure_ratio: 0.5}
//	      bulkhead: {max_concurrent: 100}
//
// Parse validates the whole document and every error names the field
// ("routes[2].timeout: must be > 0, got -1s").
//
// # Reload
//
// Reload swaps the route table atomically: a request in flight finishes on
// the table it started on, a new one sees the new table, and an invalid
// document is refused with the old one kept. Config.Source (any
// configsource.Source, such as configsource.File or etcdconfig) drives Reload
// from Run.
//
// Packages: upstream (pools of endpoints: balancing, health checks, outlier
// ejection), dnsdiscovery (a DNS resolver with TTL refresh).
package gateway
