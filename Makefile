# Shortcuts for the plain go commands in the README.
.PHONY: test race lint bench run ci

# Every test of every module (integration tests skip unless BULWARK_* is set).
test:
	go test github.com/bulwark-go/bulwark/...

# Every module on its own with the race detector, as CI does.
race:
	for m in $$(git ls-files '*go.mod' | xargs -n1 dirname); do (cd $$m && GOWORK=off go test -race ./...) || exit 1; done

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	for m in $$(git ls-files '*go.mod' | xargs -n1 dirname); do (cd $$m && GOWORK=off go vet ./... && GOWORK=off go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...) || exit 1; done

bench:
	benchmarks/run

run:
	go run ./examples/orderflow

ci:
	.ci/run
