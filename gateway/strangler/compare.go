package strangler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
)

// maxSample bounds each value quoted in a difference.
const maxSample = 120

// compareBodies returns "" when the bodies are the same (as JSON values
// without the ignored fields when both are JSON, byte for byte otherwise),
// or a sample of the first difference.
func compareBodies(legacy, modern []byte, ignore [][]string) string {
	a, aok := decodeJSON(legacy)
	b, bok := decodeJSON(modern)
	if aok && bok {
		for _, path := range ignore {
			a, b = drop(a, path), drop(b, path)
		}
		return diffJSON("$", a, b)
	}
	if bytes.Equal(legacy, modern) {
		return ""
	}
	i := 0
	for i < len(legacy) && i < len(modern) && legacy[i] == modern[i] {
		i++
	}
	return fmt.Sprintf("body differs at byte %d: legacy %s, new %s", i, sample(legacy[i:]), sample(modern[i:]))
}

func decodeJSON(b []byte) (any, bool) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// drop removes the field at path from v, in place.
func drop(v any, path []string) any {
	switch v := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			delete(v, path[0])
		} else if next, ok := v[path[0]]; ok {
			v[path[0]] = drop(next, path[1:])
		}
	case []any:
		for i := range v {
			v[i] = drop(v[i], path)
		}
	}
	return v
}

// diffJSON returns "" when a and b are equal, or the first difference.
func diffJSON(at string, a, b any) string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(a)+len(bm))
		for k := range a {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			av, aok := a[k]
			bv, bok := bm[k]
			switch {
			case !aok:
				return fmt.Sprintf("%s.%s: only in new: %s", at, k, encode(bv))
			case !bok:
				return fmt.Sprintf("%s.%s: only in legacy: %s", at, k, encode(av))
			}
			if d := diffJSON(at+"."+k, av, bv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		bl, ok := b.([]any)
		if !ok {
			break
		}
		for i := range min(len(a), len(bl)) {
			if d := diffJSON(at+"["+strconv.Itoa(i)+"]", a[i], bl[i]); d != "" {
				return d
			}
		}
		if len(a) != len(bl) {
			return fmt.Sprintf("%s: legacy has %d elements, new %d", at, len(a), len(bl))
		}
		return ""
	}
	if reflect.DeepEqual(a, b) {
		return ""
	}
	return fmt.Sprintf("%s: legacy %s, new %s", at, encode(a), encode(b))
}

func encode(v any) string {
	b, _ := json.Marshal(v) // decoded JSON encodes
	return sample(b)
}

func sample(b []byte) string {
	if len(b) > maxSample {
		return strconv.Quote(string(b[:maxSample])) + "…"
	}
	return strconv.Quote(string(b))
}
