package bulkhead

import (
	"fmt"

	"github.com/bulwark-go/bulwark"
)

// ErrFull is matched, with errors.Is, by every rejection of a bulkhead: all
// permits were taken and the call could not wait for one (the waiting line
// was full, or the wait ran out). The call did not run. ErrFull matches
// bulwark.ErrRejected, as every policy's refusal does.
var ErrFull = bulwark.NewRejection("bulkhead: full")

// errWaitedOut is the rejection of a call that waited Config.MaxWait in
// vain; it matches ErrFull. It is made once so that rejecting allocates
// nothing.
var errWaitedOut = fmt.Errorf("%w: no permit within Config.MaxWait", ErrFull)
