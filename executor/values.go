package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/lang"
)

// redact replaces every sensitive value with null, so that what remains can
// be stored, hashed and shown. It returns the paths it removed.
func redact(v cty.Value) (cty.Value, []cty.Path) {
	unmarked, pvms := v.UnmarkDeepWithPaths()
	var paths []cty.Path
	for _, pvm := range pvms {
		if _, ok := pvm.Marks[lang.Sensitive]; ok {
			paths = append(paths, pvm.Path)
		}
	}
	if len(paths) == 0 {
		return unmarked, nil
	}
	out, err := cty.Transform(unmarked, func(p cty.Path, v cty.Value) (cty.Value, error) {
		for _, sp := range paths {
			if p.Equals(sp) {
				return cty.NullVal(v.Type()), nil
			}
		}
		return v, nil
	})
	if err != nil {
		// Transform fails only when the callback does; it does not.
		panic(err)
	}
	return out, paths
}

// unmark removes the marks a provider must not see; it is called only at a
// provider call, which needs the secrets themselves.
func unmark(v cty.Value) cty.Value {
	u, _ := v.UnmarkDeep()
	return u
}

// encodeValue stores a value together with its type so that it reads back
// exactly. Sensitive values must already be redacted.
func encodeValue(v cty.Value) ([]byte, error) {
	if v == cty.NilVal {
		return nil, nil
	}
	return json.Marshal(ctyjson.SimpleJSONValue{Value: v})
}

func decodeValue(b []byte) (cty.Value, error) {
	if len(b) == 0 {
		return cty.NilVal, nil
	}
	var sv ctyjson.SimpleJSONValue
	if err := json.Unmarshal(b, &sv); err != nil {
		return cty.NilVal, fmt.Errorf("decode stored attributes: %w", err)
	}
	return sv.Value, nil
}

// hashValue fingerprints a configuration. Only a wholly known value has a
// fingerprint; "" means it cannot be compared yet. Sensitive values are left
// out, so that not even a digest of a secret reaches the state file; changing
// only a secret therefore changes nothing.
func hashValue(v cty.Value) string {
	if v == cty.NilVal || !v.IsWhollyKnown() {
		return ""
	}
	red, _ := redact(v)
	b, err := ctyjson.Marshal(red, red.Type())
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// changedAttrs lists the top-level attributes whose values differ between
// two objects, sorted. Unknown values in after count as changes.
func changedAttrs(before, after cty.Value) []string {
	names := map[string]bool{}
	for _, v := range []cty.Value{before, after} {
		if v != cty.NilVal && v.Type().IsObjectType() {
			for n := range v.Type().AttributeTypes() {
				names[n] = true
			}
		}
	}
	var out []string
	for n := range names {
		b, a := attrOf(before, n), attrOf(after, n)
		if !valuesEqual(b, a) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func attrOf(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}

func valuesEqual(a, b cty.Value) bool {
	a, _ = a.UnmarkDeep()
	b, _ = b.UnmarkDeep()
	if !a.IsWhollyKnown() || !b.IsWhollyKnown() {
		return false
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() && b.IsNull()
	}
	// Stored values come back from JSON with tuple and object types where
	// configuration has lists and maps; compare what they hold.
	ja, errA := ctyjson.Marshal(a, cty.DynamicPseudoType)
	jb, errB := ctyjson.Marshal(b, cty.DynamicPseudoType)
	if errA != nil || errB != nil {
		return a.RawEquals(b)
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return a.RawEquals(b)
	}
	return fmt.Sprint(unwrapTyped(va)) == fmt.Sprint(unwrapTyped(vb))
}

// unwrapTyped drops the {"value":…,"type":…} wrapper that marshalling with
// a dynamic type adds.
func unwrapTyped(v any) any {
	if m, ok := v.(map[string]any); ok {
		if inner, ok := m["value"]; ok && len(m) == 2 {
			return inner
		}
	}
	return v
}

// withID adds the provider's id to the attributes it computed, so that
// configuration can refer to pod.x.id.
func withID(attrs cty.Value, id string) cty.Value {
	m := map[string]cty.Value{}
	if attrs != cty.NilVal && !attrs.IsNull() && attrs.IsKnown() && attrs.Type().IsObjectType() {
		m = attrs.AsValueMap()
		if m == nil {
			m = map[string]cty.Value{}
		}
	}
	if id == "" {
		m["id"] = cty.UnknownVal(cty.String)
	} else {
		m["id"] = cty.StringVal(id)
	}
	return cty.ObjectVal(m)
}

// withExtras adds to a resource's object the attributes its provider
// computed that configuration cannot refer to (a process's pid, a pod's
// price), so that state keeps them for the provider's next Read and plans
// show them.
func withExtras(obj, computed cty.Value) cty.Value {
	if computed == cty.NilVal || computed.IsNull() || !computed.IsKnown() || !computed.Type().IsObjectType() {
		return obj
	}
	m := obj.AsValueMap()
	if m == nil {
		m = map[string]cty.Value{}
	}
	added := false
	for name, v := range computed.AsValueMap() {
		if _, ok := m[name]; !ok {
			m[name] = v
			added = true
		}
	}
	if !added {
		return obj
	}
	return cty.ObjectVal(m)
}
