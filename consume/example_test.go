package consume_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
)

// A consumer on an in-memory queue: one order fails once and is retried,
// one payment is malformed and dead-lettered at once, and the rest of the
// order's key waits for its retry.
func Example() {
	q := consume.NewMemoryQueue(nil)
	q.Publish(
		consume.Message{ID: "o1-created", Key: "order-1", Payload: []byte("created")},
		consume.Message{ID: "o1-paid", Key: "order-1", Payload: []byte("paid")},
		consume.Message{ID: "p9", Key: "payment-9", Payload: []byte("{malformed")},
	)

	var mu sync.Mutex
	handled := map[string][]string{}
	sawPayment, once, done := false, sync.Once{}, make(chan struct{})
	h := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		mu.Lock()
		defer mu.Unlock()
		defer func() {
			if len(handled["order-1"]) == 2 && sawPayment {
				once.Do(func() { close(done) })
			}
		}()
		if m.ID == "p9" {
			sawPayment = true
			return consume.Permanent(errors.New("cannot parse payment"))
		}
		if m.ID == "o1-created" && m.Attempt == 1 {
			return errors.New("inventory service unavailable")
		}
		handled[m.Key] = append(handled[m.Key], fmt.Sprintf("%s (attempt %d)", m.Payload, m.Attempt))
		return nil
	})

	var dead retry.MemorySink[consume.Message]
	c, err := consume.New(q.Source(), consume.Chain(h, consume.Recover()), consume.Config{
		InPlaceAttempts: consume.NoInPlaceRetries,
		Redelivery:      retry.Constant{Delay: 10 * time.Millisecond},
		DeadLetters:     &dead,
	})
	if err != nil {
		panic(err)
	}
	go func() { _ = c.Run(context.Background()) }()
	<-done // Close lets the running handlers finish, dead letters included
	if err := c.Close(context.Background()); err != nil {
		panic(err)
	}

	fmt.Println("order-1:", handled["order-1"])
	for _, l := range dead.Letters() {
		fmt.Printf("dead letter %s after %d run: %v\n", l.Item.ID, len(l.Attempts), l.Attempts[0].Err)
	}
	fmt.Println("left in the queue:", q.Len())
	// Output:
	// order-1: [created (attempt 2) paid (attempt 1)]
	// dead letter p9 after 1 run: cannot parse payment
	// left in the queue: 0
}

// Middleware wraps a handler, the first outermost: here a panic becomes a
// failed attempt, each run gets at most a second, and an open circuit
// breaker refuses runs while the downstream is down (the Consumer retries
// those later like any failure).
func ExampleChain() {
	breaker, err := circuitbreaker.New(circuitbreaker.Config{ConsecutiveFailures: 2})
	if err != nil {
		panic(err)
	}
	h := consume.Chain(consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		if string(m.Payload) == "crash" {
			panic("nil map")
		}
		return errors.New("inventory unavailable")
	}),
		consume.Recover(),
		consume.Timeout(time.Second),
		consume.WithPolicy(breaker),
	)
	ctx := context.Background()
	var pe *consume.PanicError
	err = h.Handle(ctx, &consume.Message{Payload: []byte("crash")})
	fmt.Println("panic as an error:", errors.As(err, &pe), pe.Value)
	fmt.Println(h.Handle(ctx, &consume.Message{Payload: []byte("order")}))
	fmt.Println(errors.Is(h.Handle(ctx, &consume.Message{Payload: []byte("order")}), bulwark.ErrRejected))
	// Output:
	// panic as an error: true nil map
	// inventory unavailable
	// true
}
