// Package discovery finds the endpoints of a service and follows them as they
// change, behind one small interface that every registry implements.
//
// A Resolver watches one service name and delivers its whole endpoint set,
// first the current one and then each change, until the caller's context
// ends. Consumers (the gateway's upstream pools, a gRPC resolver of your own)
// keep the last set they received; a resolver that cannot reach its registry
// reports the error in an Update and keeps trying, and the consumer keeps
// serving from the last good set.
//
// Resolvers:
//
//   - Static, here: endpoints given in code or configuration, changeable at
//     run time with Set (tests, fixed fleets).
//   - dnsdiscovery, in the gateway module: DNS A/AAAA and SRV records,
//     refreshed when their TTL ends (what Consul and Kubernetes expose).
//   - etcddiscovery, in adapters/etcd: a registry in etcd with lease-based
//     self-registration, so that a service that dies leaves the set when its
//     lease ends.
//
// Every Resolver passes discoverytest.Run.
package discovery
