package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdDiscoveryAndConfig runs the command against the etcd server of
// BULWARK_ETCD_ENDPOINTS: the document comes from an etcd key, a route
// over an etcd-registered service is served, and a new document written
// to the key is applied.
func TestEtcdDiscoveryAndConfig(t *testing.T) {
	endpoints := testenv.EtcdEndpoints(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	prefix := "/bulwark-test/" + uuid.NewString()
	bg := context.Background()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if _, err := c.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
			t.Errorf("deleting %s: %v", prefix, err)
		}
	})
	put := func(key, value string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		if _, err := c.Put(ctx, key, value); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	a, b := upstream(t, "a"), upstream(t, "b")
	put(prefix+"/registry/orders/"+a, "{}")
	key := prefix + "/gateway.yaml"
	put(key, "upstreams: {orders: {discovery: etcd}}\nroutes: [{match: /api/, upstream: orders, strip_prefix: /api}]\n")

	ctx, cancel := context.WithCancel(bg)
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- run(ctx, []string{"-etcd", strings.Join(endpoints, ","), "-etcd-prefix", prefix + "/registry", "-config-etcd-key", key, "-listen", "127.0.0.1:0"}, &logs, func(addr string) { addrs <- addr })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	waitBody(t, client, "http://"+addr+"/api/x", "a /x")

	// The registry changes: a second instance, then the first leaves.
	put(prefix+"/registry/orders/"+b, "{}")
	ctx2, cancel2 := context.WithTimeout(bg, 5*time.Second)
	if _, err := c.Delete(ctx2, prefix+"/registry/orders/"+a); err != nil {
		t.Fatal(err)
	}
	cancel2()
	waitBody(t, client, "http://"+addr+"/api/x", "b /x")

	// A new document written to the key is applied.
	put(key, fmt.Sprintf("upstreams: {orders: {discovery: etcd}, static: {endpoints: [%q]}}\nroutes: [{match: /api/, upstream: orders, strip_prefix: /api}, {match: /v2/, upstream: static}]\n", a))
	waitBody(t, client, "http://"+addr+"/v2/y", "a /v2/y")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
