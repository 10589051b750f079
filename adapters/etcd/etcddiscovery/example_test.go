package etcddiscovery_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/etcd/etcddiscovery"
	"github.com/bulwark-go/bulwark/discovery"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An instance registers itself while it runs, and a gateway follows the
// instances of the service. It needs an etcd server on 127.0.0.1:2379.
func ExampleRegistration() {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// In the instance: registered while the group runs; if the process
	// dies, it leaves the registry within the TTL.
	reg, err := etcddiscovery.NewRegistration(client, "orders", discovery.Endpoint{Addr: "10.0.0.1:8080"},
		etcddiscovery.RegistrationConfig{TTL: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	group := bulwark.Start(context.Background(), reg)
	defer group.Stop(context.Background()) // revokes the lease: the instance leaves at once

	// In the gateway: the current set, then every change.
	resolver, err := etcddiscovery.New(client, etcddiscovery.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	updates, err := resolver.Watch(ctx, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for u := range updates {
		if u.Err != nil {
			log.Print(u.Err) // the last set still stands
			continue
		}
		fmt.Println(u.Endpoints)
		if len(u.Endpoints) > 0 {
			break
		}
	}
}
