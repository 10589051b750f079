package chaos

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Event = Injected{}

// Injected is reported just before a fault is injected: on the caller's
// goroutine, with the caller's context, before the latency starts, the
// error is returned or the panic is raised; never while a lock is held. An
// Injector without an Observer builds no event. Kind "chaos.injected".
type Injected struct {
	// Name is the Injector's Config.Name.
	Name string
	// Fault is the kind of fault: FaultLatency, FaultError or FaultPanic.
	Fault Fault
	// Call is the number of the call that got it (1 for the first call
	// the Injector diced): with the same Seed, the same call gets the same
	// faults on every run.
	Call uint64
}

// Kind returns "chaos.injected".
func (Injected) Kind() string { return "chaos.injected" }

// Component returns the Injector's name.
func (e Injected) Component() string { return e.Name }

// LogValue returns the fault and the call's number.
func (e Injected) LogValue() slog.Value {
	return slog.GroupValue(slog.String("fault", e.Fault.String()), slog.Uint64("call", e.Call))
}
