package etcddiscovery_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/adapters/etcd/internal/etcdtest"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/discovery/discoverytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestConformance(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after the client's Close
	c := etcdtest.Client(t)
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		prefix := etcdtest.Prefix(t, c)
		r, err := etcddiscovery.New(c, etcddiscovery.Config{Prefix: prefix})
		require.NoError(t, err)
		return discoverytest.Harness{Resolver: r, Set: func(t *testing.T, service string, eps []discovery.Endpoint) {
			set(t, c, prefix, service, eps)
		}}
	})
}

// set makes eps the instances of service in one transaction, as the
// registrations' keys would be: the keys of other addresses are deleted.
func set(t *testing.T, c *clientv3.Client, prefix, service string, eps []discovery.Endpoint) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dir := prefix + "/" + service + "/"
	old, err := c.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	keep := map[string]bool{}
	var ops []clientv3.Op
	for _, ep := range eps {
		value, err := json.Marshal(ep)
		require.NoError(t, err)
		keep[dir+ep.Addr] = true
		ops = append(ops, clientv3.OpPut(dir+ep.Addr, string(value)))
	}
	for _, kv := range old.Kvs {
		if !keep[string(kv.Key)] {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
	}
	_, err = c.Txn(ctx).Then(ops...).Commit()
	require.NoError(t, err)
}

func TestBadValuesAreLeftOut(t *testing.T) {
	c := etcdtest.Client(t)
	prefix := etcdtest.Prefix(t, c)
	r, err := etcddiscovery.New(c, etcddiscovery.Config{Prefix: prefix})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for key, value := range map[string]string{
		"10.0.0.1:80": `{"addr":"10.0.0.1:80","meta":{"zone":"a"}}`,
		"10.0.0.2:80": `{}`, // Addr taken from the key
		"10.0.0.3:80": `not json`,
		"10.0.0.4:80": `{"addr":"10.0.0.5:80"}`,
		"nohost":      `{}`,
	} {
		_, err := c.Put(ctx, prefix+"/orders/"+key, value)
		require.NoError(t, err)
	}
	ch, err := r.Watch(ctx, "orders")
	require.NoError(t, err)
	u := <-ch
	require.NoError(t, u.Err)
	assert.Equal(t, []discovery.Endpoint{{Addr: "10.0.0.1:80", Meta: map[string]string{"zone": "a"}}, {Addr: "10.0.0.2:80"}}, u.Endpoints)
}

func TestWatchRefusesNamesThatAreNotOneSegment(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	r, err := etcddiscovery.New(c, etcddiscovery.Config{})
	require.NoError(t, err)
	for _, name := range []string{"", " ", "a/b"} {
		_, err := r.Watch(context.Background(), name)
		assert.Error(t, err, "service %q", name)
	}
}

func TestUnreachableEtcdIsAnUpdateErrAndRetried(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) })
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	r, err := etcddiscovery.New(c, etcddiscovery.Config{Timeout: 100 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx, "orders")
	require.NoError(t, err)
	for i := range 2 {
		select {
		case u := <-ch:
			require.Error(t, u.Err, "update %d", i)
			assert.Nil(t, u.Endpoints)
			assert.Contains(t, u.Err.Error(), "etcddiscovery: reading")
		case <-time.After(5 * time.Second):
			t.Fatalf("no Update.Err %d from an unreachable etcd", i)
		}
	}
	cancel()
	for range ch { // closes once ctx has ended
	}
}

// TestOutage: a watcher whose client loses etcd keeps its set, and once
// etcd is back it delivers what changed meanwhile, whether the watch can
// resume from its revision or that history was compacted away (it then
// reads the keys again).
func TestOutage(t *testing.T) {
	for _, compact := range []bool{false, true} {
		name := "Resumes"
		if compact {
			name = "Compacted"
		}
		t.Run(name, func(t *testing.T) {
			direct := etcdtest.Client(t)
			prefix := etcdtest.Prefix(t, direct)
			proxy := etcdtest.NewProxy(t, testenv.EtcdEndpoints(t)[0])
			c, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.Addr()}, DialTimeout: time.Second})
			require.NoError(t, err)
			defer c.Close()
			r, err := etcddiscovery.New(c, etcddiscovery.Config{Prefix: prefix})
			require.NoError(t, err)

			a := []discovery.Endpoint{{Addr: "10.0.0.1:80"}}
			set(t, direct, prefix, "orders", a)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := r.Watch(ctx, "orders")
			require.NoError(t, err)
			awaitSet(t, ch, a, 5*time.Second)

			proxy.Cut()
			set(t, direct, prefix, "orders", []discovery.Endpoint{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80"}})
			ab := []discovery.Endpoint{{Addr: "10.0.0.2:80"}, {Addr: "10.0.0.3:80"}}
			set(t, direct, prefix, "orders", ab)
			if compact { // past the revision the watch resumes from
				resp, err := direct.Get(context.Background(), prefix+"/orders/", clientv3.WithPrefix())
				require.NoError(t, err)
				_, err = direct.Compact(context.Background(), resp.Header.Revision)
				require.NoError(t, err)
			}
			select {
			case u := <-ch:
				if u.Err == nil {
					t.Fatalf("delivered %v while etcd was cut off", u.Endpoints)
				}
			case <-time.After(500 * time.Millisecond):
			}
			proxy.Restore()
			awaitSet(t, ch, ab, 30*time.Second)
		})
	}
}

// awaitSet reads updates until one holds want, or fails the test after wait.
func awaitSet(t *testing.T, ch <-chan discovery.Update, want []discovery.Endpoint, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case u, ok := <-ch:
			require.True(t, ok, "watch closed before delivering %v", want)
			if u.Err == nil && equalAddrs(u.Endpoints, want) {
				return
			}
		case <-deadline:
			t.Fatalf("%v not delivered within %v", want, wait)
		}
	}
}

func equalAddrs(a, b []discovery.Endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Addr != b[i].Addr {
			return false
		}
	}
	return true
}

func TestConfigErrorsNameTheField(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	_, err = etcddiscovery.New(nil, etcddiscovery.Config{})
	assert.ErrorContains(t, err, "client must not be nil")
	for _, tc := range []struct {
		cfg  etcddiscovery.Config
		says string
	}{
		{etcddiscovery.Config{Prefix: "/reg/"}, "Config.Prefix"},
		{etcddiscovery.Config{MaxDelay: -1}, "Config.MaxDelay"},
		{etcddiscovery.Config{Timeout: -1}, "Config.Timeout"},
		{etcddiscovery.Config{Backoff: retry.Exponential{Multiplier: 0.5}}, "Config.Backoff"},
		{etcddiscovery.Config{MaxDelay: 2 * time.Hour}, "Config.MaxDelay"},
	} {
		_, err := etcddiscovery.New(c, tc.cfg)
		if assert.Error(t, err) {
			assert.True(t, strings.Contains(err.Error(), tc.says), err.Error())
		}
	}
}
