// Package policyset builds named policy chains from one configuration
// document and changes their settings while the process runs.
//
// A service declares its dependencies' policies once, by name:
//
//	{"policies": {
//	  "inventory": {
//	    "retry":           {"max_attempts": 3, "backoff": {"type": "exponential", "initial": "50ms"}},
//	    "circuit_breaker": {"failure_rate_threshold": 50, "open_wait": "10s"},
//	    "bulkhead":        {"max_concurrent": 20},
//	    "timeout":         {"timeout": "2s"}
//	  },
//	  "payments": {"rate_limit": {"limit": 100, "period": "1s"}}
//	}}
//
// and looks each chain up by name: set.Policy("inventory") is a
// bulwark.Policy that runs its parts outermost first in a fixed order —
// retry, circuit_breaker, rate_limit, bulkhead, hedge, timeout, chaos — so
// each retry attempt passes the breaker, the limiter and the bulkhead, and
// the timeout bounds one attempt.
//
// # Changing settings
//
// Apply takes a new document as a whole or not at all: every name is checked
// first, with errors naming the field ("policies.inventory.bulkhead.
// max_concurrent: ..."), and a refused document changes nothing. An accepted
// one changes each part in place through its Reconfigure, so state survives
// (a breaker keeps its window, a limiter what was used, a bulkhead its
// permits); a setting a part fixes at New (a breaker's window, a bulkhead's
// adaptive algorithm) makes a new part, whose state starts afresh; a part
// added to a name joins its chain, and one removed leaves it. Each call
// reads its name's chain once, when it starts. A document may add names but
// not remove one that the process already has (callers hold it): that is
// refused, naming it.
//
// Run follows a configsource.Source (a file, etcd) and applies each version;
// a version that cannot be parsed or applied is reported (Refused) and the
// settings stay as they were.
//
// # Events
//
// Applied and Refused, through Config.Observer; the parts report their own
// events through the same Observer, named after the policy.
package policyset
