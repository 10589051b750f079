package etcddiscovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// revokeTimeout bounds the lease's revocation when Run's context has ended
// (Close revokes within its own context instead).
const revokeTimeout = time.Second

// Registration registers one instance of a service in etcd for as long as it
// runs: a bulwark.Service whose Run grants a lease of RegistrationConfig.TTL,
// writes the key <Prefix>/<service>/<addr> with the endpoint as JSON
// attached to that lease, and keeps the lease alive.
//
// When the lease is lost (revoked behind its back, or expired because etcd
// could not be reached for longer than the TTL) or a registration fails,
// Run reports Lost and registers again with a new lease after
// RegistrationConfig.Backoff, for as long as it runs. If the process dies,
// nobody renews the lease and etcd deletes the key when the TTL ends. Close
// revokes the lease, which deletes the key at once; so does the end of
// Run's context, within a second.
type Registration struct {
	client  *clientv3.Client
	service string
	addr    string
	key     string
	value   string
	cfg     RegistrationConfig
	state   *lifecycle.State
}

var _ bulwark.Service = (*Registration)(nil)

// NewRegistration returns a Registration of endpoint as an instance of
// service, through client. A nil client, a service name that is empty or
// contains "/", an endpoint whose Addr is not "host:port", or an invalid
// setting is an error naming it.
func NewRegistration(client *clientv3.Client, service string, endpoint discovery.Endpoint, cfg RegistrationConfig) (*Registration, error) {
	if client == nil {
		return nil, errors.New("etcddiscovery: NewRegistration: client must not be nil")
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	prefix, err := servicePrefix(cfg.Prefix, service)
	if err != nil {
		return nil, err
	}
	if _, err := discovery.Normalize([]discovery.Endpoint{endpoint}); err != nil {
		return nil, fmt.Errorf("etcddiscovery: NewRegistration: %w", err)
	}
	value, err := json.Marshal(endpoint)
	if err != nil {
		return nil, fmt.Errorf("etcddiscovery: NewRegistration: encoding the endpoint: %w", err)
	}
	return &Registration{
		client: client, service: service, addr: endpoint.Addr,
		key: prefix + endpoint.Addr, value: string(value),
		cfg: cfg, state: lifecycle.New(),
	}, nil
}

// Key returns the etcd key the registration writes.
func (r *Registration) Key() string {
	r.mustNew()
	return r.key
}

// Run registers the endpoint and keeps it registered until ctx ends (it
// then revokes the lease and returns ctx's error, wrapped) or Close is
// called (it returns nil). It never gives up on etcd: failures are
// reported as Lost and retried.
func (r *Registration) Run(ctx context.Context) error {
	r.mustNew()
	work, err := r.state.Begin(ctx)
	if err != nil {
		return err
	}
	defer r.state.End()
	// ops is cancelled by Close too, so that a Grant or Put waiting for an
	// unreachable etcd does not hold Close up.
	ops, cancel := context.WithCancel(work)
	defer cancel()
	go func() {
		select {
		case <-r.state.Stop:
			cancel()
		case <-ops.Done():
		}
	}()

	failures := 0
	for {
		err := r.registerOnce(work, ops)
		switch {
		case r.state.Closed():
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("etcddiscovery: Registration.Run: %w", ctx.Err())
		}
		if errors.Is(err, errLeaseLost) {
			failures = 0 // it was registered: the backoff starts over
		}
		failures++
		wait := r.cfg.Backoff.Wait(failures, 0, r.cfg.MaxDelay)
		r.observe(ctx, Lost{Registration: r.cfg.Name, Service: r.service, Addr: r.addr, Err: err, RetryIn: wait})
		_ = clock.Sleep(ops, r.cfg.Clock, wait) // when stopped, the checks above return
	}
}

var errLeaseLost = errors.New("etcddiscovery: the lease was lost (revoked, or expired while etcd could not be reached)")

// registerOnce grants a lease, writes the key with it and keeps the lease
// alive until it is lost (errLeaseLost), a step fails (its error) or ops
// ends (the lease is then revoked, within work when Close stopped Run).
func (r *Registration) registerOnce(work, ops context.Context) error {
	grantCtx, cancel := context.WithTimeout(ops, r.cfg.TTL)
	defer cancel()
	lease, err := r.client.Grant(grantCtx, int64(r.cfg.TTL/time.Second))
	if err != nil {
		return fmt.Errorf("etcddiscovery: granting a lease: %w", err)
	}
	if _, err := r.client.Put(grantCtx, r.key, r.value, clientv3.WithLease(lease.ID)); err != nil {
		r.revoke(work, lease.ID)
		return fmt.Errorf("etcddiscovery: writing %s: %w", r.key, err)
	}
	alive, err := r.client.KeepAlive(ops, lease.ID)
	if err != nil {
		r.revoke(work, lease.ID)
		return fmt.Errorf("etcddiscovery: keeping lease %x alive: %w", lease.ID, err)
	}
	r.observe(work, Registered{Registration: r.cfg.Name, Service: r.service, Addr: r.addr, Key: r.key,
		Lease: int64(lease.ID), TTL: time.Duration(lease.TTL) * time.Second})
	for range alive { // drained, so the client never drops responses
	}
	if ops.Err() == nil {
		return errLeaseLost
	}
	r.revoke(work, lease.ID)
	return ops.Err()
}

// revoke revokes lease, which deletes the key at once: within work when it
// is still live (Close stopped Run, and may give up waiting by cancelling
// it), within revokeTimeout otherwise. A failure is logged: the lease then
// ends when its TTL does.
func (r *Registration) revoke(work context.Context, lease clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(work), revokeTimeout)
	if work.Err() == nil {
		ctx, cancel = context.WithCancel(work)
	}
	defer cancel()
	if _, err := r.client.Revoke(ctx, lease); err != nil {
		r.cfg.Logger.Warn("etcddiscovery: revoking the lease failed; the key stays until its TTL ends",
			"key", r.key, "lease", fmt.Sprintf("%x", int64(lease)), "error", err)
	}
}

// Close stops Run, which revokes the lease so that the endpoint leaves the
// registry at once, and waits within ctx for Run to return. It returns nil
// once Run has returned (or when Run never ran), or ctx's error, wrapped.
func (r *Registration) Close(ctx context.Context) error {
	r.mustNew()
	return r.state.Close(ctx, "etcddiscovery: Registration")
}

func (r *Registration) observe(ctx context.Context, e bulwark.Event) {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Observe(ctx, e)
	}
}

func (r *Registration) mustNew() {
	if r == nil || r.state == nil {
		panic("etcddiscovery: Registration used without NewRegistration")
	}
}
