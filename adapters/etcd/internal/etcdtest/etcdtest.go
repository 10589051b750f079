// Package etcdtest connects the etcd adapters' tests to the etcd server in
// BULWARK_ETCD_ENDPOINTS and gives each test a key prefix of its own.
package etcdtest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Client returns a client of the server in BULWARK_ETCD_ENDPOINTS, closed
// when the test ends; it skips or fails the test as testenv.Service does
// when no server is configured, and fails it when the server does not
// answer.
func Client(t testing.TB) *clientv3.Client {
	t.Helper()
	endpoints := testenv.EtcdEndpoints(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcdtest: connecting to %s=%v: %v", testenv.EtcdVar, endpoints, err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Status(ctx, endpoints[0]); err != nil {
		t.Fatalf("etcdtest: %s=%v does not answer: %v", testenv.EtcdVar, endpoints, err)
	}
	return c
}

// Prefix returns a key prefix no other test uses, without a trailing "/",
// and deletes every key under it when the test ends.
func Prefix(t testing.TB, c *clientv3.Client) string {
	t.Helper()
	prefix := "/bulwark-test/" + uuid.NewString()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
			t.Errorf("etcdtest: deleting %s: %v", prefix, err)
		}
	})
	return prefix
}
