package report

import (
	"encoding/json"
	"fmt"
	"io"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/benchform/benchform/state"
)

// StoredOutput renders an output as stored: its value as JSON, or a mark
// that it is sensitive.
func StoredOutput(b []byte) string {
	var o struct {
		Value     json.RawMessage `json:"value"`
		Sensitive bool            `json:"sensitive"`
	}
	if json.Unmarshal(b, &o) != nil {
		return "(unreadable)"
	}
	if o.Sensitive {
		return "(sensitive value)"
	}
	return string(o.Value)
}

// Resource writes a resource as state holds it: its provider, id, name and
// attributes.
func Resource(w io.Writer, row state.Resource) {
	fmt.Fprintf(w, "# %s", row.Address)
	if row.Status != state.StatusReady {
		fmt.Fprintf(w, " (%s)", row.Status)
	}
	fmt.Fprintln(w, ":")
	if row.Provider != "" {
		fmt.Fprintf(w, "  provider    = %q\n", row.Provider)
	}
	if row.ProviderID != "" {
		fmt.Fprintf(w, "  provider_id = %q\n", row.ProviderID)
	}
	if row.Name != "" {
		fmt.Fprintf(w, "  name        = %q\n", row.Name)
	}
	fmt.Fprintf(w, "  attributes  = %s\n\n", AttributesJSON(row.Attributes))
}

// AttributesJSON renders stored attributes as indented JSON, without the
// type information they are stored with.
func AttributesJSON(b []byte) string {
	var sv ctyjson.SimpleJSONValue
	if len(b) == 0 || json.Unmarshal(b, &sv) != nil {
		return "{}"
	}
	plain, err := ctyjson.Marshal(sv.Value, sv.Value.Type())
	if err != nil {
		return "{}"
	}
	var v any
	_ = json.Unmarshal(plain, &v)
	v = dropNulls(v)
	out, _ := json.MarshalIndent(v, "  ", "  ")
	return string(out)
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = dropNulls(e)
			}
		}
	case []any:
		for i := range x {
			x[i] = dropNulls(x[i])
		}
	}
	return v
}
