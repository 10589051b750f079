package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// registry is the flow's service discovery. Each service registers its
// address under its name when it starts and leaves when it closes; the
// processor's clients (downstream.go) and the gateway find the services
// through resolver, so none of them is given another's address.
//
// Without -etcd the registry is a discovery.Static in the process. With
// -etcd it is etcd's (etcddiscovery): each instance is a key under the
// run's own prefix, attached to a lease its Registration keeps alive, so an
// instance that dies without closing leaves every watcher's set when its
// lease's TTL (registrationTTL) ends, and one that closes leaves at once.
type registry struct {
	etcd *etcdRun // nil without -etcd

	static *discovery.Static
	mu     sync.Mutex
	sets   map[string][]discovery.Endpoint

	etcdResolver *etcddiscovery.Resolver
}

// registrationTTL is the lease of an instance registered in etcd: how long
// it stays in the pool after its process died.
const registrationTTL = 5 * time.Second

func newRegistry(e *etcdRun) (*registry, error) {
	r := &registry{etcd: e}
	if e == nil {
		r.static, r.sets = discovery.NewStatic(), map[string][]discovery.Endpoint{}
		return r, nil
	}
	res, err := etcddiscovery.New(e.client, etcddiscovery.Config{Prefix: e.servicesPrefix()})
	if err != nil {
		return nil, err
	}
	r.etcdResolver = res
	return r, nil
}

// register adds the instance listening at rawURL ("http://host:port") to
// service's endpoints; with etcd it returns once the instance's key and
// lease are written. The returned func removes the instance again (with
// etcd: closes its Registration, which revokes the lease).
func (r *registry) register(service, rawURL string) (deregister func(), err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("registering %s: %q is not a service URL", service, rawURL)
	}
	ep := discovery.Endpoint{Addr: u.Host}
	if r.etcd != nil {
		return r.registerEtcd(service, ep)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.static.Set(service, append(slices.Clone(r.sets[service]), ep)); err != nil {
		return nil, err
	}
	r.sets[service] = append(r.sets[service], ep)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sets[service] = slices.DeleteFunc(r.sets[service], func(e discovery.Endpoint) bool { return e.Addr == ep.Addr })
		_ = r.static.Set(service, r.sets[service])
	}, nil
}

func (r *registry) registerEtcd(service string, ep discovery.Endpoint) (func(), error) {
	registered := make(chan struct{})
	var once sync.Once
	reg, err := etcddiscovery.NewRegistration(r.etcd.client, service, ep, etcddiscovery.RegistrationConfig{
		Name:   service + "@" + ep.Addr,
		Prefix: r.etcd.servicesPrefix(),
		TTL:    registrationTTL,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(etcddiscovery.Registered); ok {
				once.Do(func() { close(registered) })
			}
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", service, err)
	}
	running := bulwark.Start(context.Background(), reg)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = running.Stop(ctx)
	}
	select {
	case <-registered:
	case <-running.Done():
		stop()
		return nil, fmt.Errorf("registering %s in etcd: %v", service, running.Err())
	case <-time.After(10 * time.Second):
		stop()
		return nil, fmt.Errorf("registering %s in etcd: not registered within 10s", service)
	}
	return stop, nil
}

// resolver is what the processor's clients and the gateway watch.
func (r *registry) resolver() discovery.Resolver {
	if r.etcdResolver != nil {
		return r.etcdResolver
	}
	return r.static
}

// describe says where the registry is.
func (r *registry) describe() string {
	if r.etcd != nil {
		return r.etcd.describe()
	}
	return "in the process (discovery.Static)"
}

// etcdRun is the run's place in an etcd cluster (-etcd): a client, and a
// key prefix of the run's own under which the registry and the settings
// document live; close deletes every key under it.
type etcdRun struct {
	client *clientv3.Client
	prefix string // "/bulwark-orderflow/<uuid>"
}

func connectEtcd(ctx context.Context, endpoints string) (*etcdRun, error) {
	var eps []string
	for ep := range strings.SplitSeq(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("-etcd names no endpoint")
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %v: %w", eps, err)
	}
	e := &etcdRun{client: client, prefix: "/bulwark-orderflow/" + uuid.NewString()}
	check, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Get(check, e.prefix+"/"); err != nil {
		client.Close()
		return nil, fmt.Errorf("cannot reach etcd at %v: %w", eps, err)
	}
	return e, nil
}

func (e *etcdRun) servicesPrefix() string { return e.prefix + "/services" }

// settingsKey is the etcd key of the named consumer's settings document.
func (e *etcdRun) settingsKey(consumer string) string { return e.prefix + "/settings/" + consumer }

func (e *etcdRun) describe() string {
	return fmt.Sprintf("etcd at %v, keys under %s/ (deleted at the end)", e.client.Endpoints(), e.prefix)
}

// close deletes the run's keys and closes the client.
func (e *etcdRun) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := e.client.Delete(ctx, e.prefix+"/", clientv3.WithPrefix())
	return errors.Join(err, e.client.Close())
}
