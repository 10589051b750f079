package idempotency_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
)

func ExampleDo() {
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})

	charges := 0
	charge := func(ctx context.Context) (string, error) {
		charges++
		return fmt.Sprintf("ch_%d", charges), nil
	}
	req := idempotency.Request{Scope: "customer-42", Key: "order-1001", Fingerprint: []byte("amount=500")}
	for range 3 { // the client retries
		id, err := idempotency.Do(context.Background(), keeper, req, charge)
		fmt.Println(id, err)
	}
	fmt.Println("charges:", charges)
	// Output:
	// ch_1 <nil>
	// ch_1 <nil>
	// ch_1 <nil>
	// charges: 1
}

func ExampleInbox() {
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	inbox, _ := idempotency.NewInbox(keeper, idempotency.InboxConfig{Consumer: "billing"})

	for _, id := range []string{"msg-1", "msg-2", "msg-1"} { // msg-1 is redelivered
		ran, err := inbox.Process(context.Background(), id, func(ctx context.Context) error {
			fmt.Println("handling", id)
			return nil
		})
		fmt.Println(id, ran, err)
	}
	// Output:
	// handling msg-1
	// msg-1 true <nil>
	// handling msg-2
	// msg-2 true <nil>
	// msg-1 false <nil>
}

// A charge whose process dies after charging is resumed from its recovery
// point by the retry that takes its key over, and passes the payment
// provider a key derived from the request's, so that a repeated call would
// be deduplicated there too.
func ExampleAttempt_Checkpoint() {
	clock := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{Clock: clock})
	req := idempotency.Request{Scope: "customer-42", Key: "order-1001"}
	charge := func(ctx context.Context) (string, error) {
		att := idempotency.AttemptFrom(ctx)
		if point := att.RecoveryPoint(); point != nil {
			return fmt.Sprintf("attempt %d resumed after %s", att.Number(), point), nil
		}
		fmt.Println("charging with key", att.DownstreamKey("provider.charge"))
		if err := att.Checkpoint(ctx, []byte("charge ch_1")); err != nil {
			return "", err
		}
		return "charged", nil
	}

	// The first process claims the key, charges, and dies before
	// completing it.
	ctx := context.Background()
	att, _, _ := keeper.Start(ctx, req)
	_, _ = charge(idempotency.WithAttempt(ctx, att))

	clock.Advance(time.Minute) // its lease runs out
	got, err := idempotency.Do(ctx, keeper, req, charge)
	fmt.Println(got, err)
	// Output:
	// charging with key OzD5sGmC0mMYTZ-_rUiAFoFKZ2_Mmjd6pl5iUuTXXAI
	// attempt 2 resumed after charge ch_1 <nil>
}

// A Cleaner deletes expired records in the background; run it with the
// rest of the service's background work.
func ExampleCleaner() {
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	cleaner, _ := idempotency.NewCleaner(keeper, idempotency.CleanerConfig{
		Interval: 10 * time.Minute,
		Observer: bulwark.LogEvents(slog.New(slog.NewTextHandler(os.Stdout, nil)), slog.LevelDebug),
	})
	group := bulwark.Start(context.Background(), cleaner)
	// ... serve ...
	_ = group.Stop(context.Background())
}
