// release-check: build

// Command etcd registers an instance of a service in etcd and resolves the
// service's endpoints, and reads a configuration key. It needs a server:
// ETCD_ENDPOINTS (default localhost:2379).
package main

import (
	"cmp"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcdconfig"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/discovery"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoints := strings.Split(cmp.Or(os.Getenv("ETCD_ENDPOINTS"), "localhost:2379"), ",")
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	reg, err := etcddiscovery.NewRegistration(client, "orders", discovery.Endpoint{Addr: "127.0.0.1:8080"}, etcddiscovery.RegistrationConfig{})
	if err != nil {
		log.Fatal(err)
	}
	group := bulwark.Start(ctx, reg)
	defer group.Stop(context.Background())

	resolver, err := etcddiscovery.New(client, etcddiscovery.Config{})
	if err != nil {
		log.Fatal(err)
	}
	updates, err := resolver.Watch(ctx, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for u := range updates {
		if u.Err == nil && len(u.Endpoints) > 0 {
			fmt.Println("orders:", u.Endpoints)
			break
		}
	}

	if _, err := client.Put(ctx, "/config/orders", `{"max_attempts":3}`); err != nil {
		log.Fatal(err)
	}
	src, err := etcdconfig.New(client, "/config/orders", etcdconfig.Config{})
	if err != nil {
		log.Fatal(err)
	}
	docs, err := src.Watch(ctx)
	if err != nil {
		log.Fatal(err)
	}
	doc := <-docs
	fmt.Printf("config version %s: %s\n", doc.Version, doc.Data)
}
