package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// TestStory runs the example on a fake clock and checks what it tells, line
// by line. Scene 1's waits are random (full jitter), so their lengths are
// masked; every other figure is exact.
func TestStory(t *testing.T) {
	fake := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), &out, fake)
		fake.NewTimer(time.Hour) // wakes the loop below for the last time
	}()
	var err error
drive:
	for {
		fake.BlockUntil(1)
		select {
		case err = <-done:
			break drive
		default:
			fake.Advance(time.Millisecond)
		}
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	got := regexp.MustCompile(`retrying in [0-9.]+m?s`).ReplaceAllString(out.String(), "retrying in ...")
	want := `1. A flaky call, retried with exponential backoff and full jitter
   attempt 1 failed (connection reset by peer); retrying in ...
   attempt 2 failed (connection reset by peer); retrying in ...
   attempt 3 failed (connection reset by peer); retrying in ...
   attempt 4 succeeded

2. A retry storm: inventory is down from 1s to 4s; 400 calls a second, 5 attempts each, no wait
                  without a budget         |  with a budget (10% of calls + 5/s)
   second  state   calls attempts retries  |  calls attempts retries refused
   0-1s    up       400      400       0  |    400      400       0       0
   1-2s    DOWN     400     2000    1600  |    400      530     130     377
   2-3s    DOWN     400     2000    1600  |    400      440      40     400
   3-4s    DOWN     400     2000    1600  |    400      440      40     400
   4-5s    up       400      400       0  |    400      400       0       0
   while inventory was down it received 5.0x its normal load without a budget, 1.18x with one

3. An order consumer: retry, then dead-letter what cannot succeed
   {"id":1,"qty":2}   acknowledged after 1 attempt(s): processed
   {"id":2,"qty":     acknowledged after 1 attempt(s): dead-lettered
   {"id":3,"qty":1}   acknowledged after 2 attempt(s): processed
   {"id":4,"qty":-5}  acknowledged after 1 attempt(s): dead-lettered
   {"id":5,"qty":1}   acknowledged after 3 attempt(s): dead-lettered
   the dead-letter sink holds 3 of 5 messages, each with its error and attempts:
   {"id":2,"qty":     retry: gave up after 1 attempt (error is not retryable): decode: unexpected end of JSON input
                      attempt 1 at +0s: decode: unexpected end of JSON input
   {"id":4,"qty":-5}  retry: gave up after 1 attempt (error is not retryable): invalid order: quantity -5
                      attempt 1 at +100ms: invalid order: quantity -5
   {"id":5,"qty":1}   retry: gave up after 3 attempts (max attempts reached): payment: timeout
                      attempt 1 at +100ms: payment: timeout; next in 100ms
                      attempt 2 at +200ms: payment: timeout; next in 200ms
                      attempt 3 at +400ms: payment: timeout
`
	if got != want {
		t.Fatalf("the example told\n%s\nwant\n%s", got, want)
	}
}
