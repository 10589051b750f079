module github.com/bulwark-go/bulwark/examples

go 1.26.0

replace (
	github.com/bulwark-go/bulwark => ..
	github.com/bulwark-go/bulwark/adapters/nats => ../adapters/nats
	github.com/bulwark-go/bulwark/adapters/postgres => ../adapters/postgres
	github.com/bulwark-go/bulwark/adapters/redis => ../adapters/redis
	github.com/bulwark-go/bulwark/adapters/sqlite => ../adapters/sqlite
)

require (
	github.com/bulwark-go/bulwark v0.0.0-00010101000000-000000000000
	github.com/bulwark-go/bulwark/adapters/sqlite v0.0.0-00010101000000-000000000000
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/sys v0.49.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)
