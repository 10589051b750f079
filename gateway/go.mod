module github.com/bulwark-go/bulwark/gateway

go 1.26.0

replace github.com/bulwark-go/bulwark => ../

require github.com/bulwark-go/bulwark v0.1.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	go.uber.org/goleak v1.3.0
)
