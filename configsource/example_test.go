package configsource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-go/bulwark/configsource"
)

func ExampleFile() {
	dir, _ := os.MkdirTemp("", "config")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "limits.json")
	_ = os.WriteFile(path, []byte(`{"rps": 100}`), 0o600)

	src, err := configsource.NewFile(path, configsource.FileConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	docs, _ := src.Watch(ctx)
	doc := <-docs // then one Document per change, until ctx ends
	fmt.Println(string(doc.Data), doc.Err)
	// Output: {"rps": 100} <nil>
}
