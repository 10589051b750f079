module github.com/bulwark-go/bulwark/adapters/redis

go 1.26

replace github.com/bulwark-go/bulwark => ../..
