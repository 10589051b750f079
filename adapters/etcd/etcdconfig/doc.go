// Package etcdconfig keeps a configuration document in one etcd key and
// delivers its versions as a configsource.Source, so that a service can
// apply a new configuration at run time: put the new document in the key,
// and every watcher receives it.
//
// A Source reads the key, delivers its value, and follows it with an etcd
// watch from the revision after the read. Document.Version is the key's
// modification revision. A key that does not exist, or is deleted, is
// delivered as a Document whose Err matches ErrNoKey; the watcher keeps the
// version it has, and the value put next is delivered. Consecutive
// deliveries never carry the same Data: writing the same document again is
// not a new version.
//
// The *clientv3.Client is the caller's: a Source neither configures nor
// closes it. The zero Config is the default; a Source reports no events
// (errors arrive in Documents).
package etcdconfig
