package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Local is one named value of a locals block.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
	refs      []reference
	refDiags  hcl.Diagnostics
}

func decodeLocalsBlock(b *hcl.Block) ([]*Local, hcl.Diagnostics) {
	attrs, diags := b.Body.JustAttributes()
	var locals []*Local
	for _, a := range sortedAttributes(attrs) {
		if !validName(a.Name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid name",
				Detail:   "A local value name must start with a letter or underscore and may contain only letters, digits, underscores and dashes.",
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		refs, d := referencesIn(a.Expr.Variables())
		locals = append(locals, &Local{Name: a.Name, Expr: a.Expr, DeclRange: a.NameRange, refs: refs, refDiags: d})
	}
	return locals, diags
}

// Output is an output block: a value printed after apply and kept in state.
type Output struct {
	Name        string
	Description string
	Sensitive   bool
	Expr        hcl.Expression
	DeclRange   hcl.Range
	refs        []reference
	refDiags    hcl.Diagnostics
}

func (o *Output) declRange() hcl.Range { return o.DeclRange }

var outputSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "value", Required: true},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

func decodeOutputBlock(b *hcl.Block) (*Output, hcl.Diagnostics) {
	o := &Output{Name: b.Labels[0], DeclRange: hcl.RangeBetween(b.DefRange, b.LabelRanges[0])}
	content, diags := b.Body.Content(outputSchema)
	if a := content.Attributes["value"]; a != nil {
		o.Expr = a.Expr
		o.refs, o.refDiags = referencesIn(a.Expr.Variables())
	}
	if a := content.Attributes["description"]; a != nil {
		diags = append(diags, decodeStatic(a, cty.String, func(v cty.Value) { o.Description = v.AsString() })...)
	}
	if a := content.Attributes["sensitive"]; a != nil {
		diags = append(diags, decodeStatic(a, cty.Bool, func(v cty.Value) { o.Sensitive = v.True() })...)
	}
	if o.Expr == nil {
		return nil, diags
	}
	return o, diags
}
