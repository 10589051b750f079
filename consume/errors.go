package consume

import (
	"fmt"

	"github.com/bulwark-go/bulwark/retry"
)

// Permanent marks err as not worth retrying: a handler returning it (or an
// error wrapping it) has its message dead-lettered at once, whatever
// Config.RetryIf says. It is retry.Permanent, so errors marked by either are
// treated alike. The result wraps err and reads the same; Permanent(nil) is
// nil.
func Permanent(err error) error { return retry.Permanent(err) }

// PanicError is the error Recover turns a handler's panic into.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

// Error returns the panic value and the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("consume: handler panicked: %v\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
