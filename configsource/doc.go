// Package configsource delivers the versions of one configuration document
// from where it is kept, so that a program can apply a new version at run time
// without a restart.
//
// A Source watches one document and delivers its bytes, first the current
// version and then each new one, until the caller's context ends. What the
// bytes mean is the caller's business: the caller parses and validates each
// version before applying it, and keeps the version it has when a new one is
// invalid, so that a bad edit never takes a running service down.
//
// Sources:
//
//   - File, here: a file on disk, read again when its contents change.
//   - Env, here: an environment variable holding the whole document, read
//     once (a process's environment does not change).
//   - etcdconfig, in adapters/etcd: a key in etcd, followed with a watch.
package configsource
