module github.com/bulwark-go/bulwark/console

go 1.26.0

replace github.com/bulwark-go/bulwark => ../

require (
	github.com/bulwark-go/bulwark v0.1.0
	github.com/google/uuid v1.6.0
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
