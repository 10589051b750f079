package policyset_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/policyset"
)

func Example() {
	doc, err := policyset.Parse([]byte(`{"policies": {"inventory": {
		"retry":           {"max_attempts": 3, "backoff": {"type": "constant", "delay": "0s"}},
		"circuit_breaker": {"consecutive_failures": 5},
		"bulkhead":        {"max_concurrent": 20},
		"timeout":         {"timeout": "2s"}
	}}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	set, err := policyset.New(doc, policyset.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	inventory, _ := set.Policy("inventory")

	attempts := 0
	err = inventory.Do(context.Background(), func(context.Context) error {
		attempts++
		return errors.New("inventory is down")
	})
	fmt.Println(attempts, err != nil)

	// Loosen the bulkhead while the service runs: the same Policy follows.
	doc.Policies["inventory"].Bulkhead.MaxConcurrent = 50
	if err := set.Apply(doc); err != nil {
		fmt.Println(err)
	}
	fmt.Println(inventory.Parts().Bulkhead.Limit())
	// Output:
	// 3 true
	// 50
}
