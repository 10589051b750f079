module github.com/bulwark-go/bulwark/examples

go 1.26

replace (
	github.com/bulwark-go/bulwark => ..
	github.com/bulwark-go/bulwark/adapters/nats => ../adapters/nats
	github.com/bulwark-go/bulwark/adapters/postgres => ../adapters/postgres
	github.com/bulwark-go/bulwark/adapters/redis => ../adapters/redis
	github.com/bulwark-go/bulwark/adapters/sqlite => ../adapters/sqlite
)
