package ratelimit

import (
	"reflect"
	"testing"
)

// TestZeroConfigIsTheDefault: every zero field takes the default that
// DefaultConfig spells out, so New(Config{}) makes the same limiter as
// New(DefaultConfig()), and likewise for Keyed and MemoryStore.
func TestZeroConfigIsTheDefault(t *testing.T) {
	if got := (Config{}).withDefaults(); got != DefaultConfig() {
		t.Fatalf("the zero Config's defaults %+v differ from DefaultConfig() %+v", got, DefaultConfig())
	}
	zero, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := New(DefaultConfig())
	if *zero.load() != *def.load() || zero.Settings() != def.Settings() {
		t.Fatalf("New(Config{}) runs with %+v, New(DefaultConfig()) with %+v", zero.Settings(), def.Settings())
	}
	kz, err := NewKeyed(KeyedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := NewKeyed(DefaultKeyedConfig())
	if *kz.load() != *kd.load() || len(kz.store.(*MemoryStore).shards) != len(kd.store.(*MemoryStore).shards) {
		t.Fatalf("NewKeyed(KeyedConfig{}) = %+v, NewKeyed(DefaultKeyedConfig()) = %+v", kz, kd)
	}
	sz, _ := NewMemoryStore(MemoryStoreConfig{})
	sd, _ := NewMemoryStore(MemoryStoreConfig{MaxKeys: defaultMaxKeys})
	sz.seed = sd.seed // random
	if !reflect.DeepEqual(sz, sd) {
		t.Fatal("NewMemoryStore(MemoryStoreConfig{}) differs from a store of 10,000 keys")
	}
}
