package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// TestRegistryFollowsRegistrations: on either registry, a registered
// service's resolver delivers its instances, and a deregistered one leaves
// the set; with etcd, the instance's key has a lease, and closing the run
// leaves no key under its prefix.
func TestRegistryFollowsRegistrations(t *testing.T) {
	for _, kind := range []string{"static", "etcd"} {
		t.Run(kind, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var e *etcdRun
			if kind == "etcd" {
				var err error
				if e, err = connectEtcd(context.Background(), strings.Join(testenv.EtcdEndpoints(t), ",")); err != nil {
					t.Fatal(err)
				}
			}
			r, err := newRegistry(e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.register("payments", "not a url"); err == nil {
				t.Error("registering a bad URL succeeded")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			updates, err := r.resolver().Watch(ctx, "payments")
			if err != nil {
				t.Fatal(err)
			}
			waitFor := func(want ...string) {
				t.Helper()
				for {
					select {
					case u := <-updates:
						if u.Err == nil && addrs(u.Endpoints) == strings.Join(want, ",") {
							return
						}
					case <-ctx.Done():
						t.Fatalf("the resolver never delivered %v", want)
					}
				}
			}
			waitFor()
			leaveA, err := r.register("payments", "http://127.0.0.1:1001")
			if err != nil {
				t.Fatal(err)
			}
			leaveB, err := r.register("payments", "http://127.0.0.1:1002")
			if err != nil {
				t.Fatal(err)
			}
			waitFor("127.0.0.1:1001", "127.0.0.1:1002")
			if e != nil {
				resp, err := e.client.Get(ctx, e.servicesPrefix()+"/payments/127.0.0.1:1001")
				if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
					t.Errorf("the instance's key: %v, %v; want one key with a lease", resp, err)
				}
			}
			leaveA()
			waitFor("127.0.0.1:1002")
			leaveB()
			waitFor()
			if e != nil {
				prefix := e.prefix
				if err := e.close(); err != nil {
					t.Fatal(err)
				}
				check, err := connectEtcd(ctx, strings.Join(testenv.EtcdEndpoints(t), ","))
				if err != nil {
					t.Fatal(err)
				}
				defer check.client.Close()
				resp, err := check.client.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
				if err != nil || resp.Count != 0 {
					t.Errorf("%v keys left under %s/ (%v), want none", resp, prefix, err)
				}
			}
		})
	}
}

func addrs(eps []discovery.Endpoint) string {
	var s []string
	for _, ep := range eps {
		s = append(s, ep.Addr)
	}
	return strings.Join(s, ",")
}

// TestEtcdRegistrationOfADeadInstanceEnds: an instance whose process loses
// etcd without closing its registration (its client is gone, so nobody
// renews or revokes the lease) leaves the other processes' sets when its
// lease's TTL ends.
func TestEtcdRegistrationOfADeadInstanceEnds(t *testing.T) {
	endpoints := strings.Join(testenv.EtcdEndpoints(t), ",")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// The dying process's client logs nothing: its failures after the
	// death are the point of the test, not news.
	client, err := clientv3.New(clientv3.Config{Endpoints: testenv.EtcdEndpoints(t), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	dying := &etcdRun{client: client, prefix: "/bulwark-orderflow/" + uuid.NewString()}
	watcher, err := connectEtcd(context.Background(), endpoints)
	if err != nil {
		t.Fatal(err)
	}
	watcher.prefix = dying.prefix // the same run, seen from another process
	defer func() {
		if err := watcher.close(); err != nil {
			t.Error(err)
		}
	}()
	r, err := newRegistry(dying)
	if err != nil {
		t.Fatal(err)
	}
	leave, err := r.register("notifications", "http://127.0.0.1:1003")
	if err != nil {
		t.Fatal(err)
	}
	defer leave() // stops the Registration's Run, which cannot reach etcd any more
	seen, err := newRegistry(watcher)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*registrationTTL)
	defer cancel()
	updates, err := seen.resolver().Watch(ctx, "notifications")
	if err != nil {
		t.Fatal(err)
	}
	died := time.Time{}
	for {
		select {
		case u := <-updates:
			switch {
			case u.Err != nil:
			case len(u.Endpoints) == 1 && died.IsZero():
				dying.client.Close() // the process dies: its lease is no longer renewed
				died = time.Now()
			case len(u.Endpoints) == 0 && !died.IsZero():
				if gone := time.Since(died); gone < registrationTTL/2 {
					t.Errorf("the instance left %v after its process died, before its lease could have ended", gone)
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("the dead instance was still registered %v after it died", time.Since(died))
		}
	}
}
