// Package etcddiscovery keeps a service registry in etcd: instances register
// themselves with a Registration, and a Resolver follows the registered
// endpoints of a service as a discovery.Resolver.
//
// Each instance is one key, <Prefix>/<service>/<addr>, whose value is the
// discovery.Endpoint as JSON, attached to a lease the instance keeps alive.
// An instance that dies stops renewing its lease, and etcd deletes the key
// when the lease's TTL ends, so the endpoint leaves every watcher's set
// within the TTL; an instance that closes its Registration revokes the
// lease, and the endpoint leaves at once.
//
// The Resolver reads a service's keys, delivers the set, and follows
// changes with an etcd watch from the revision after the read. When the
// watch breaks (history compacted, leader lost) it reads the keys again;
// when etcd cannot be reached, it delivers the error in an Update and
// retries, and the last set stands.
//
// The *clientv3.Client is the caller's: these types neither configure nor
// close it. The zero Config and RegistrationConfig are the defaults;
// Registration reports Registered and Lost events to its Observer.
package etcddiscovery
