module github.com/bulwark-go/bulwark/adapters/nats

go 1.26

replace github.com/bulwark-go/bulwark => ../..
