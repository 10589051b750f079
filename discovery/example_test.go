package discovery_test

import (
	"context"
	"fmt"

	"github.com/bulwark-go/bulwark/discovery"
)

func ExampleStatic() {
	r := discovery.NewStatic()
	_ = r.Set("orders", []discovery.Endpoint{{Addr: "10.0.0.2:8080"}, {Addr: "10.0.0.1:8080"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates, _ := r.Watch(ctx, "orders")
	fmt.Println((<-updates).Endpoints)

	_ = r.Set("orders", []discovery.Endpoint{{Addr: "10.0.0.3:8080"}})
	fmt.Println((<-updates).Endpoints)
	// Output:
	// [{10.0.0.1:8080 map[]} {10.0.0.2:8080 map[]}]
	// [{10.0.0.3:8080 map[]}]
}
