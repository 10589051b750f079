package etcddiscovery

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Registration reports to RegistrationConfig.Observer, on
// Run's goroutine with Run's context, never while it holds a lock.
var (
	_ bulwark.Event = Registered{}
	_ bulwark.Event = Lost{}
)

// Registered is reported each time the endpoint's key is written with a
// new lease: at the start of Run and after each re-registration.
type Registered struct {
	// Registration is the registration's RegistrationConfig.Name.
	Registration string
	// Service and Addr name the instance.
	Service, Addr string
	// Key is the etcd key written.
	Key string
	// Lease is the etcd lease the key is attached to.
	Lease int64
	// TTL is the lease's time to live as etcd granted it.
	TTL time.Duration
}

// Kind returns "etcddiscovery.registered".
func (Registered) Kind() string { return "etcddiscovery.registered" }

// Component returns the registration's name.
func (e Registered) Component() string { return e.Registration }

// LogValue returns the service, address, key, lease and TTL.
func (e Registered) LogValue() slog.Value {
	return slog.GroupValue(slog.String("service", e.Service), slog.String("addr", e.Addr),
		slog.String("key", e.Key), slog.Int64("lease", e.Lease), slog.Duration("ttl", e.TTL))
}

// Lost is reported when the endpoint is not, or may no longer be,
// registered: its lease was lost (revoked, expired while etcd could not be
// reached) or a registration failed. Run registers again after RetryIn.
type Lost struct {
	// Registration is the registration's RegistrationConfig.Name.
	Registration string
	// Service and Addr name the instance.
	Service, Addr string
	// Err says what happened.
	Err error
	// RetryIn is the wait before the next registration.
	RetryIn time.Duration
}

// Kind returns "etcddiscovery.lost".
func (Lost) Kind() string { return "etcddiscovery.lost" }

// Component returns the registration's name.
func (e Lost) Component() string { return e.Registration }

// LogValue returns the service, address, error and wait.
func (e Lost) LogValue() slog.Value {
	return slog.GroupValue(slog.String("service", e.Service), slog.String("addr", e.Addr),
		slog.Any("error", e.Err), slog.Duration("retry_in", e.RetryIn))
}
