module github.com/bulwark-go/bulwark/gateway

go 1.26.0

replace github.com/bulwark-go/bulwark => ../

require github.com/bulwark-go/bulwark v0.1.0
