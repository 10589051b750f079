package bulwark_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
)

// logging is a stand-in for a real policy: it prints around each call.
func logging(name string) bulwark.Policy {
	return bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		fmt.Println("enter", name)
		err := op(ctx)
		fmt.Println("leave", name, err)
		return err
	})
}

func ExampleChain() {
	p := bulwark.Chain(logging("retry"), logging("breaker"))
	err := p.Do(context.Background(), func(context.Context) error {
		fmt.Println("calling inventory")
		return errors.New("inventory down")
	})
	fmt.Println("result:", err)
	// Output:
	// enter retry
	// enter breaker
	// calling inventory
	// leave breaker inventory down
	// leave retry inventory down
	// result: inventory down
}

func ExampleCall() {
	p := bulwark.Chain(logging("breaker"))
	price, err := bulwark.Call(context.Background(), p, func(context.Context) (float64, error) {
		return 9.99, nil
	})
	fmt.Println(price, err)
	// Output:
	// enter breaker
	// leave breaker <nil>
	// 9.99 <nil>
}

func ExamplePolicies() {
	p := bulwark.Chain(logging("retry"), bulwark.Chain(logging("breaker"), logging("bulkhead")))
	for i, q := range bulwark.Policies(p) {
		fmt.Printf("policy %d:\n", i)
		_ = q.Do(context.Background(), func(context.Context) error { return nil })
	}
	// Output:
	// policy 0:
	// enter retry
	// leave retry <nil>
	// policy 1:
	// enter breaker
	// leave breaker <nil>
	// policy 2:
	// enter bulkhead
	// leave bulkhead <nil>
}
