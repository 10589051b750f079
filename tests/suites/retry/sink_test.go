package retry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
)

// queue is the sink's storage: a queue of encoded letters, as a broker's
// dead-letter queue would hold them.
type queue struct {
	mu    sync.Mutex
	items [][]byte
}

// sink dead-letters retrytest.Items into a queue as JSON documents: the
// item's own JSON, the error texts, times to the microsecond. flaw names
// one deliberate defect ("" for none).
type sink struct {
	q    *queue
	flaw string
}

// letterDoc is a letter as the queue holds it.
type letterDoc struct {
	Item     json.RawMessage `json:"item"`
	Error    string          `json:"error,omitempty"`
	Attempts []attemptDoc    `json:"attempts"`
}

type attemptDoc struct {
	Number   int       `json:"n"`
	Start    time.Time `json:"start"`
	Duration int64     `json:"duration_us"`
	Error    string    `json:"error,omitempty"`
	Delay    int64     `json:"delay_us"`
}

// queueCapacity is how many letters the "bounded-queue" flaw keeps.
const queueCapacity = 100

func text(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// DeadLetter encodes the letter and appends it to the queue. It fails
// with ctx's error when ctx is done, storing nothing.
func (s *sink) DeadLetter(ctx context.Context, l retry.DeadLetter[retrytest.Item]) error {
	if err := ctx.Err(); err != nil && s.flaw != "ignores-context" {
		return fmt.Errorf("sink: %w", err)
	}
	item, err := json.Marshal(l.Item)
	if err != nil {
		return fmt.Errorf("sink: encoding the item: %w", err)
	}
	doc := letterDoc{Item: item, Error: text(l.Err)}
	for _, a := range l.Attempts {
		start := a.Start
		if s.flaw == "millisecond-times" {
			start = start.Truncate(time.Millisecond)
		}
		doc.Attempts = append(doc.Attempts, attemptDoc{
			Number: a.Number, Start: start, Duration: a.Duration.Microseconds(), Error: text(a.Err), Delay: a.Delay.Microseconds(),
		})
	}
	switch s.flaw {
	case "drops-attempts": // keeps only the attempt that ended it all
		doc.Attempts = doc.Attempts[max(len(doc.Attempts)-1, 0):]
	case "first-line-only":
		doc.Error, _, _ = strings.Cut(doc.Error, "\n")
		for i := range doc.Attempts {
			doc.Attempts[i].Error, _, _ = strings.Cut(doc.Attempts[i].Error, "\n")
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("sink: encoding the letter: %w", err)
	}
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	if s.flaw == "bounded-queue" && len(s.q.items) >= queueCapacity {
		return nil // the queue is full: the letter is dropped, yet reported stored
	}
	s.q.items = append(s.q.items, b)
	return nil
}

// readBack decodes the first n letters of the queue. DeadLetter stores a
// letter before it returns, so the queue holds every letter accepted: with
// fewer than n there is nothing to wait for.
func (q *queue) readBack(_ context.Context, n int) ([]retrytest.Stored, error) {
	q.mu.Lock()
	items := append([][]byte(nil), q.items...)
	q.mu.Unlock()
	if len(items) < n {
		return nil, fmt.Errorf("the queue holds %d letters, want %d", len(items), n)
	}
	out := make([]retrytest.Stored, n)
	for i, b := range items[:n] {
		var doc letterDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, errors.Join(fmt.Errorf("letter %d", i), err)
		}
		out[i] = retrytest.Stored{Item: doc.Item, Err: doc.Error}
		for _, a := range doc.Attempts {
			out[i].Attempts = append(out[i].Attempts, retrytest.StoredAttempt{
				Number: a.Number, Start: a.Start, Duration: time.Duration(a.Duration) * time.Microsecond,
				Err: a.Error, Delay: time.Duration(a.Delay) * time.Microsecond,
			})
		}
	}
	return out, nil
}
