package lang

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// StateBlock is the state block: where the configuration's state lives
// when the command line does not say.
type StateBlock struct {
	DeclRange hcl.Range
	body      hcl.Body
	refs      []reference
	refDiags  hcl.Diagnostics
}

// StateSpec is an evaluated state block.
type StateSpec struct {
	// Backend is "sqlite" or "postgres".
	Backend string
	// Path is a SQLite state's file; Conn a PostgreSQL state's connection
	// string, and Schema the schema its default workspace lives in.
	Path, Conn, Schema string
}

// StateBackends are the values backend takes.
var StateBackends = []string{"sqlite", "postgres"}

var stateSpec = hcldec.ObjectSpec{
	"backend": &hcldec.AttrSpec{Name: "backend", Type: cty.String, Required: true},
	"path":    &hcldec.AttrSpec{Name: "path", Type: cty.String},
	"conn":    &hcldec.AttrSpec{Name: "conn", Type: cty.String},
	"schema":  &hcldec.AttrSpec{Name: "schema", Type: cty.String},
}

func decodeStateBlock(b *hcl.Block) *StateBlock {
	refs, d := referencesIn(hcldec.Variables(b.Body, stateSpec))
	return &StateBlock{DeclRange: b.DefRange, body: b.Body, refs: refs, refDiags: d}
}

// State evaluates the state block: nil when the configuration has none.
// Its values may come from variables and locals (conn = var.pg_url), and
// what it says is checked where it is written.
func (c *Config) State() (*StateSpec, hcl.Diagnostics) {
	b := c.stateBlock
	if b == nil {
		return nil, nil
	}
	diags := append(hcl.Diagnostics{}, b.refDiags...)
	for _, ref := range b.refs {
		if ref.addr.Kind != KindVariable && ref.addr.Kind != KindLocal {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid reference",
				Detail: "The state block is read before anything is created: it can refer to variables and locals only.", Subject: ref.rng.Ptr()})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	ctx, d := c.evalContext(b.refs, NewScope(), nil)
	diags = append(diags, d...)
	v, d := hcldec.Decode(b.body, stateSpec, ctx)
	diags = append(diags, d...)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil, diags
	}
	v, _ = v.UnmarkDeep()
	str := func(name string) string {
		if a := v.GetAttr(name); !a.IsNull() {
			return a.AsString()
		}
		return ""
	}
	s := &StateSpec{Backend: str("backend"), Path: str("path"), Conn: str("conn"), Schema: str("schema")}
	attr := func(name string) *hcl.Range {
		attrs, _ := b.body.JustAttributes()
		if a := attrs[name]; a != nil {
			return a.Expr.Range().Ptr()
		}
		return b.DeclRange.Ptr()
	}
	problem := func(name, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid state block", Detail: detail, Subject: attr(name)})
	}
	switch {
	case !slices.Contains(StateBackends, s.Backend):
		problem("backend", fmt.Sprintf("backend is %q or %q, not %q.", "sqlite", "postgres", s.Backend))
	case s.Backend == "postgres" && s.Conn == "":
		problem("conn", `A postgres state needs conn = "postgres://user@host:5432/db", usually from a variable.`)
	case s.Backend == "postgres" && s.Path != "":
		problem("path", "path is a SQLite state's file; a postgres state has conn.")
	case s.Backend == "sqlite" && (s.Conn != "" || s.Schema != ""):
		problem("conn", "conn and schema are a postgres state's; a SQLite state has path.")
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return s, diags
}
