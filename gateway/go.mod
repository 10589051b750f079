module github.com/bulwark-go/bulwark/gateway

go 1.26.0

replace github.com/bulwark-go/bulwark => ../

require (
	github.com/bulwark-go/bulwark v0.1.0
	github.com/google/uuid v1.6.0
	github.com/miekg/dns v1.1.73
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	go.uber.org/goleak v1.3.0
)
