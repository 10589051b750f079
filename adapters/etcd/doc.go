// Package etcd holds bulwark's etcd adapters (go.etcd.io/etcd/client/v3),
// one subpackage per pattern: etcddiscovery (a service registry with
// lease-based self-registration, behind discovery.Resolver) and etcdconfig
// (a configuration document kept in one key, behind configsource.Source).
// It is its own module, so that only programs that use etcd depend on the
// etcd client. It works against etcd 3.4 and later servers.
package etcd
