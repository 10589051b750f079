package etcddiscovery_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/adapters/etcd/internal/etcdtest"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"register": runRegistered})
}

// runRegistered, a child process, registers ORDERS_ADDR under PREFIX with a
// TTL of TTL, prints "registered" and runs until it is killed.
func runRegistered() {
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(os.Getenv(testenv.EtcdVar), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	ttl, err := time.ParseDuration(os.Getenv("TTL"))
	if err != nil {
		panic(err)
	}
	reg, err := etcddiscovery.NewRegistration(c, "orders", discovery.Endpoint{Addr: os.Getenv("ORDERS_ADDR")}, etcddiscovery.RegistrationConfig{
		Prefix: os.Getenv("PREFIX"), TTL: ttl,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(etcddiscovery.Registered); ok {
				fmt.Println("registered")
			}
		}),
	})
	if err != nil {
		panic(err)
	}
	panic(reg.Run(context.Background()))
}

// watchOrders returns a watch of service "orders" under prefix, ended when
// the test ends.
func watchOrders(t *testing.T, c *clientv3.Client, prefix string) <-chan discovery.Update {
	t.Helper()
	r, err := etcddiscovery.New(c, etcddiscovery.Config{Prefix: prefix})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := r.Watch(ctx, "orders")
	require.NoError(t, err)
	return ch
}

// TestKilledInstanceLeavesWithinTTL: an instance killed with SIGKILL, which
// revokes nothing, leaves the set when its lease's TTL ends.
func TestKilledInstanceLeavesWithinTTL(t *testing.T) {
	const ttl = 2 * time.Second
	const margin = time.Second // etcd checks for expired leases every 500ms, then commits the revocation
	c := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, c)
	ch := watchOrders(t, c, prefix)
	awaitSet(t, ch, []discovery.Endpoint{}, 5*time.Second)

	child := testenv.Command(t, "register", "PREFIX="+prefix, "TTL="+ttl.String(), "ORDERS_ADDR=10.0.0.7:8080")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	awaitSet(t, ch, []discovery.Endpoint{{Addr: "10.0.0.7:8080"}}, 10*time.Second)
	time.Sleep(ttl) // a few keep-alives: the lease is renewed, not merely granted

	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	awaitSet(t, ch, []discovery.Endpoint{}, ttl+margin)
	t.Logf("the killed instance left the set %v after SIGKILL (TTL %v)", time.Since(killed).Round(time.Millisecond), ttl)
}

// events records a Registration's events.
type events struct {
	mu  sync.Mutex
	all []bulwark.Event
	ch  chan bulwark.Event
}

func newEvents() *events { return &events{ch: make(chan bulwark.Event, 100)} }

func (e *events) Observe(_ context.Context, ev bulwark.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// next returns the next event of type E, failing the test after wait.
func next[E bulwark.Event](t *testing.T, e *events, wait time.Duration) E {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-e.ch:
			if want, ok := ev.(E); ok {
				return want
			}
		case <-deadline:
			var zero E
			t.Fatalf("no %s event within %v", zero.Kind(), wait)
			return zero
		}
	}
}

// run starts reg.Run and returns a channel of its result.
func run(ctx context.Context, reg *etcddiscovery.Registration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	return done
}

func TestCloseRemovesTheEndpointAtOnce(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	c := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, c)
	ch := watchOrders(t, c, prefix)
	ev := newEvents()
	ep := discovery.Endpoint{Addr: "10.0.0.8:8080", Meta: map[string]string{"zone": "a"}}
	reg, err := etcddiscovery.NewRegistration(c, "orders", ep, etcddiscovery.RegistrationConfig{Prefix: prefix, Name: "orders-1", Observer: ev})
	require.NoError(t, err)
	assert.Equal(t, prefix+"/orders/10.0.0.8:8080", reg.Key())
	done := run(context.Background(), reg)
	registered := next[etcddiscovery.Registered](t, ev, 5*time.Second)
	assert.Equal(t, etcddiscovery.Registered{Registration: "orders-1", Service: "orders", Addr: ep.Addr, Key: reg.Key(), Lease: registered.Lease, TTL: 10 * time.Second}, registered)
	awaitSet(t, ch, []discovery.Endpoint{ep}, 5*time.Second)

	closed := time.Now()
	require.NoError(t, reg.Close(context.Background()))
	awaitSet(t, ch, []discovery.Endpoint{}, time.Second) // the TTL is 10s
	t.Logf("a closed registration left the set %v after Close (TTL 10s)", time.Since(closed).Round(time.Millisecond))
	require.NoError(t, <-done)
	assert.ErrorIs(t, reg.Run(context.Background()), bulwark.ErrClosed)
	require.NoError(t, reg.Close(context.Background()))
}

func TestEndOfRunContextRemovesTheEndpoint(t *testing.T) {
	c := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, c)
	ch := watchOrders(t, c, prefix)
	reg, err := etcddiscovery.NewRegistration(c, "orders", discovery.Endpoint{Addr: "10.0.0.9:8080"}, etcddiscovery.RegistrationConfig{Prefix: prefix})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, reg)
	awaitSet(t, ch, []discovery.Endpoint{{Addr: "10.0.0.9:8080"}}, 5*time.Second)
	assert.ErrorIs(t, reg.Run(context.Background()), bulwark.ErrRunning)
	cancel()
	err = <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "etcddiscovery: Registration.Run")
	awaitSet(t, ch, []discovery.Endpoint{}, time.Second)
}

// TestReRegistersAfterTheLeaseIsRevoked: a lease revoked behind the
// registration's back (an operator, a partition longer than the TTL, an
// etcd that lost its data) is replaced by a new one.
func TestReRegistersAfterTheLeaseIsRevoked(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	c := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, c)
	ch := watchOrders(t, c, prefix)
	ev := newEvents()
	ep := discovery.Endpoint{Addr: "10.0.0.10:8080"}
	reg, err := etcddiscovery.NewRegistration(c, "orders", ep, etcddiscovery.RegistrationConfig{Prefix: prefix, TTL: 3 * time.Second, Observer: ev})
	require.NoError(t, err)
	done := run(context.Background(), reg)
	first := next[etcddiscovery.Registered](t, ev, 5*time.Second)
	awaitSet(t, ch, []discovery.Endpoint{ep}, 5*time.Second)

	revoked := time.Now()
	_, err = c.Revoke(context.Background(), clientv3.LeaseID(first.Lease))
	require.NoError(t, err)
	awaitSet(t, ch, []discovery.Endpoint{}, 5*time.Second)
	lost := next[etcddiscovery.Lost](t, ev, 5*time.Second)
	assert.ErrorContains(t, lost.Err, "lease was lost")
	second := next[etcddiscovery.Registered](t, ev, 5*time.Second)
	assert.NotEqual(t, first.Lease, second.Lease)
	awaitSet(t, ch, []discovery.Endpoint{ep}, 5*time.Second)
	t.Logf("registered again %v after its lease was revoked (TTL 3s)", time.Since(revoked).Round(time.Millisecond))

	require.NoError(t, reg.Close(context.Background()))
	require.NoError(t, <-done)
}

// TestUnreachableEtcd: while etcd cannot be reached the registration
// reports Lost and keeps trying, and Close still returns at once.
func TestRegistrationWithoutEtcdReportsLostAndCloses(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	ev := newEvents()
	reg, err := etcddiscovery.NewRegistration(c, "orders", discovery.Endpoint{Addr: "10.0.0.11:8080"},
		etcddiscovery.RegistrationConfig{TTL: time.Second, MaxDelay: 10 * time.Millisecond, Observer: ev})
	require.NoError(t, err)
	done := run(context.Background(), reg)
	for range 2 {
		lost := next[etcddiscovery.Lost](t, ev, 5*time.Second)
		assert.ErrorContains(t, lost.Err, "granting a lease")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, reg.Close(ctx))
	require.NoError(t, <-done)
}

func TestRegistrationRefusesBadInput(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	ok := discovery.Endpoint{Addr: "10.0.0.1:80"}
	for _, tc := range []struct {
		client  *clientv3.Client
		service string
		ep      discovery.Endpoint
		cfg     etcddiscovery.RegistrationConfig
		says    string
	}{
		{nil, "orders", ok, etcddiscovery.RegistrationConfig{}, "client must not be nil"},
		{c, "", ok, etcddiscovery.RegistrationConfig{}, "service name must not be empty"},
		{c, "a/b", ok, etcddiscovery.RegistrationConfig{}, "must not contain"},
		{c, "orders", discovery.Endpoint{Addr: "10.0.0.1"}, etcddiscovery.RegistrationConfig{}, "host:port"},
		{c, "orders", ok, etcddiscovery.RegistrationConfig{TTL: 1500 * time.Millisecond}, "RegistrationConfig.TTL"},
		{c, "orders", ok, etcddiscovery.RegistrationConfig{TTL: 500 * time.Millisecond}, "RegistrationConfig.TTL"},
		{c, "orders", ok, etcddiscovery.RegistrationConfig{TTL: 25 * time.Hour}, "RegistrationConfig.TTL"},
		{c, "orders", ok, etcddiscovery.RegistrationConfig{Prefix: "/x/"}, "RegistrationConfig.Prefix"},
		{c, "orders", ok, etcddiscovery.RegistrationConfig{MaxDelay: -time.Second}, "RegistrationConfig.MaxDelay"},
	} {
		_, err := etcddiscovery.NewRegistration(tc.client, tc.service, tc.ep, tc.cfg)
		assert.ErrorContains(t, err, tc.says)
	}
}

func TestCloseBeforeRun(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	reg, err := etcddiscovery.NewRegistration(c, "orders", discovery.Endpoint{Addr: "10.0.0.1:80"}, etcddiscovery.RegistrationConfig{})
	require.NoError(t, err)
	require.NoError(t, reg.Close(context.Background()))
	assert.True(t, errors.Is(reg.Run(context.Background()), bulwark.ErrClosed))
}

func TestZeroValuesPanic(t *testing.T) {
	assert.PanicsWithValue(t, "etcddiscovery: Registration used without NewRegistration", func() { _ = new(etcddiscovery.Registration).Close(context.Background()) })
	assert.PanicsWithValue(t, "etcddiscovery: Resolver used without New", func() { _, _ = new(etcddiscovery.Resolver).Watch(context.Background(), "orders") })
}

// TestReRegistersAfterAPartition: an instance cut off from etcd for longer
// than its TTL leaves the set (its lease expires), reports Lost, and is
// registered again once etcd is back.
func TestReRegistersAfterAPartition(t *testing.T) {
	const ttl = 2 * time.Second
	direct := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, direct)
	ch := watchOrders(t, direct, prefix)
	proxy := etcdtest.NewProxy(t, testenv.EtcdEndpoints(t)[0])
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr()}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	ev := newEvents()
	ep := discovery.Endpoint{Addr: "10.0.0.12:8080"}
	reg, err := etcddiscovery.NewRegistration(c, "orders", ep, etcddiscovery.RegistrationConfig{Prefix: prefix, TTL: ttl, Observer: ev})
	require.NoError(t, err)
	done := run(context.Background(), reg)
	first := next[etcddiscovery.Registered](t, ev, 5*time.Second)
	awaitSet(t, ch, []discovery.Endpoint{ep}, 5*time.Second)

	proxy.Cut()
	cut := time.Now()
	awaitSet(t, ch, []discovery.Endpoint{}, ttl+time.Second)
	t.Logf("the cut-off instance left the set %v after the cut (TTL %v)", time.Since(cut).Round(time.Millisecond), ttl)
	next[etcddiscovery.Lost](t, ev, 5*time.Second)
	proxy.Restore()
	restored := time.Now()
	second := next[etcddiscovery.Registered](t, ev, 30*time.Second)
	assert.NotEqual(t, first.Lease, second.Lease)
	awaitSet(t, ch, []discovery.Endpoint{ep}, 5*time.Second)
	t.Logf("registered again %v after etcd came back", time.Since(restored).Round(time.Millisecond))

	require.NoError(t, reg.Close(context.Background()))
	require.NoError(t, <-done)
}
