package runpod

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Attributes a pod's State and Planned carry. Only these: never env,
// which may hold secrets.
var podAttrTypes = map[string]cty.Type{
	"id":                cty.String,
	"cost_per_hour":     cty.Number,
	"gpu_type_selected": cty.String,
	"cloud_selected":    cty.String,
	"data_center_id":    cty.String,
	"image":             cty.String,
	"args":              cty.String,
	"ports":             cty.List(cty.String),
	"created_at":        cty.String,
}

// Attributes a server's State and Planned carry.
var serverAttrTypes = map[string]cty.Type{
	"id":       cty.String,
	"endpoint": cty.String,
	"model":    cty.String,
}

// podRequiresReplace are the pod arguments RunPod cannot change on a pod
// that exists.
var podRequiresReplace = []string{"gpu_type", "gpu_count", "cloud_type", "container_disk_gb", "volume_gb", "data_center_ids"}

// objectOf builds an object with every attribute of types, unknown where
// vals has none.
func objectOf(types map[string]cty.Type, vals map[string]cty.Value) cty.Value {
	m := make(map[string]cty.Value, len(types))
	for name, t := range types {
		v, ok := vals[name]
		if !ok || v == cty.NilVal {
			v = cty.UnknownVal(t)
		}
		m[name] = v
	}
	return cty.ObjectVal(m)
}

func strList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

// attr returns a known, non-null top-level attribute of stored
// attributes, or cty.NilVal.
func attr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsMarked() || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NilVal
	}
	a := v.GetAttr(name)
	if a.IsNull() || !a.IsWhollyKnown() {
		return cty.NilVal
	}
	return a
}

// attrString returns a stored string attribute, or "".
func attrString(v cty.Value, name string) string {
	a := attr(v, name)
	if a == cty.NilVal || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

// fillAttrs returns prior with the attributes of add that prior lacks or
// holds as null. Attributes prior has keep their values, so that a refresh
// that learnt nothing returns prior exactly and state is not rewritten.
func fillAttrs(prior cty.Value, add map[string]cty.Value) cty.Value {
	if prior == cty.NilVal || prior.IsNull() || !prior.IsKnown() || !prior.Type().IsObjectType() {
		return cty.ObjectVal(add)
	}
	m := prior.AsValueMap()
	if m == nil {
		m = map[string]cty.Value{}
	}
	changed := false
	for name, v := range add {
		if old, ok := m[name]; ok && !old.IsNull() {
			continue
		}
		m[name] = v
		changed = true
	}
	if !changed {
		return prior
	}
	return cty.ObjectVal(m)
}

// sameValue compares what two values hold, as the executor does: stored
// values come back with tuple and object types where configuration has
// lists and maps.
func sameValue(a, b cty.Value) bool {
	if a == cty.NilVal || b == cty.NilVal {
		return a == b
	}
	a, _ = a.UnmarkDeep()
	b, _ = b.UnmarkDeep()
	if !a.IsWhollyKnown() || !b.IsWhollyKnown() {
		return false
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() && b.IsNull()
	}
	ja, errA := ctyjson.Marshal(a, a.Type())
	jb, errB := ctyjson.Marshal(b, b.Type())
	if errA != nil || errB != nil {
		return a.RawEquals(b)
	}
	if bytes.Equal(ja, jb) {
		return true
	}
	var va, vb any
	if json.Unmarshal(ja, &va) != nil || json.Unmarshal(jb, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// topAttr returns an attribute of a configuration or stored object, null
// when it has none.
func topAttr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	a, _ := v.GetAttr(name).UnmarkDeep()
	return a
}
