package gateway

import "github.com/bulwark-go/bulwark/policyset"

// Duration is a time.Duration written in a document as a Go duration string
// ("250ms", "2s", "1m30s"); a bare number is refused, so that a timeout of 2
// cannot silently mean two nanoseconds. It is policyset.Duration, the one
// form every bulwark document uses ("none", which reads as -1, is refused
// by every setting here that takes a Duration).
type Duration = policyset.Duration
