package bulkhead

import (
	"reflect"
	"testing"
)

// TestZeroConfigIsTheDefault: every zero field takes the default that
// DefaultConfig (DefaultAIMD, DefaultGradient) spells out, so New of the
// zero value makes the same bulkhead as New of the defaults.
func TestZeroConfigIsTheDefault(t *testing.T) {
	if got := (Config{}).withDefaults(); !reflect.DeepEqual(got, DefaultConfig()) {
		t.Fatalf("the zero Config's defaults %+v differ from DefaultConfig() %+v", got, DefaultConfig())
	}
	if got := (AIMD{}).withDefaults(defaultMaxConcurrent); got != DefaultAIMD() {
		t.Fatalf("the zero AIMD's defaults %+v differ from DefaultAIMD() %+v", got, DefaultAIMD())
	}
	if got := (Gradient{}).withDefaults(defaultMaxConcurrent); got != DefaultGradient() {
		t.Fatalf("the zero Gradient's defaults %+v differ from DefaultGradient() %+v", got, DefaultGradient())
	}
	for _, pair := range [][2]Config{
		{{}, DefaultConfig()},
		{{Adaptive: AIMD{}}, {MaxConcurrent: defaultMaxConcurrent, MaxWait: defaultMaxWait, Adaptive: DefaultAIMD()}},
		{{Adaptive: Gradient{}}, {MaxConcurrent: defaultMaxConcurrent, MaxWait: defaultMaxWait, Adaptive: DefaultGradient()}},
	} {
		zero, err := New(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		def, err := New(pair[1])
		if err != nil {
			t.Fatal(err)
		}
		zero.base = def.base                       // when each was made
		zero.overloaded, def.overloaded = nil, nil // funcs never compare equal
		if !reflect.DeepEqual(zero, def) {
			t.Fatalf("New(%+v) differs from New(%+v)", pair[0], pair[1])
		}
	}
	kz, err := NewKeyed(KeyedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := NewKeyed(DefaultKeyedConfig())
	if !reflect.DeepEqual(kz, kd) {
		t.Fatalf("NewKeyed(KeyedConfig{}) %+v differs from NewKeyed(DefaultKeyedConfig()) %+v", kz, kd)
	}
}
