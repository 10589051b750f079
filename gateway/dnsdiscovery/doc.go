// Package dnsdiscovery is a discovery.Resolver over DNS, the form of service
// discovery Consul's DNS interface and Kubernetes' services expose.
//
// A service name is one of two forms:
//
//   - "host:port": the A and AAAA records of host, each address with port
//     ("orders.default.svc.cluster.local:8080"). An IP literal host is its
//     own one endpoint.
//   - "_service._proto.domain": the SRV records of that name, each target
//     with its port ("_http._tcp.orders.service.consul"); an endpoint's Meta
//     holds the record's "priority" and "weight".
//
// Each Watch queries its name at once and again when the answer's shortest
// TTL ends, bounded by Config.MinRefresh and Config.MaxRefresh (an answer
// with no records is asked again after MinRefresh, or the negative TTL its
// SOA record gives). A name that does not exist (NXDOMAIN) or has no
// records is the empty set, not an error. A query that fails (no server
// answers, SERVFAIL, a malformed answer) is delivered as an Update with Err
// while the last set stands, and retried after MinRefresh. Names are
// queried as fully qualified: no search domains are tried.
//
// The zero Config reads its servers from /etc/resolv.conf. The package
// reports no events: errors reach the watcher in its Updates (an
// upstream.Pool reports them as upstream.ResolveFailed).
package dnsdiscovery
