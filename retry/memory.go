package retry

import (
	"context"
	"fmt"
	"sync"
)

// MemorySink is a DeadLetterSink that keeps letters in memory, for tests,
// examples and single-process programs. Its zero value is ready to use; it is
// safe for concurrent use and grows without bound until drained.
type MemorySink[T any] struct {
	mu      sync.Mutex
	letters []DeadLetter[T]
}

var _ DeadLetterSink[int] = (*MemorySink[int])(nil)

// DeadLetter stores letter. It fails only when ctx is already done.
func (s *MemorySink[T]) DeadLetter(ctx context.Context, letter DeadLetter[T]) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retry: memory sink: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.letters = append(s.letters, letter)
	return nil
}

// Letters returns a copy of the stored letters, oldest first.
func (s *MemorySink[T]) Letters() []DeadLetter[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DeadLetter[T](nil), s.letters...)
}

// Len returns the number of stored letters.
func (s *MemorySink[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.letters)
}

// Drain removes and returns the stored letters, oldest first, for a program
// that reprocesses or reports them.
func (s *MemorySink[T]) Drain() []DeadLetter[T] {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.letters
	s.letters = nil
	return out
}
