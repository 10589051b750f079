package etcdconfig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/bulwark-go/bulwark/adapters/etcd/etcdconfig"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A service applies each valid version of its configuration, kept in one
// etcd key, and keeps the one it has when a new one is invalid. It needs an
// etcd server on 127.0.0.1:2379.
func ExampleSource() {
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	src, err := etcdconfig.New(client, "/config/orders", etcdconfig.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	docs, err := src.Watch(ctx)
	if err != nil {
		log.Fatal(err)
	}
	type settings struct {
		MaxAttempts int `json:"max_attempts"`
	}
	var current settings
	for doc := range docs {
		if doc.Err != nil {
			log.Print(doc.Err) // missing key or etcd unreachable: keep the current settings
			continue
		}
		var next settings
		if err := json.Unmarshal(doc.Data, &next); err != nil {
			log.Printf("version %s refused: %v", doc.Version, err)
			continue
		}
		current = next
		fmt.Println("applied version", doc.Version, "max_attempts", current.MaxAttempts)
	}
}
