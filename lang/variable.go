package lang

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix starts the name of an environment variable that sets a
// configuration variable: BENCHFORM_VAR_model sets var.model.
const EnvVarPrefix = "BENCHFORM_VAR_"

// Variable is a variable block and the value it ended up with.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type // cty.DynamicPseudoType when no type is given
	Default     cty.Value
	Sensitive   bool
	DeclRange   hcl.Range

	// Value is the final value, marked Sensitive when the variable is.
	Value cty.Value
	// Source says where Value came from: "default", "-var",
	// "-var-file=dev.hcl" or "BENCHFORM_VAR_model".
	Source string
}

func (v *Variable) declRange() hcl.Range { return v.DeclRange }

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

func decodeVariableBlock(b *hcl.Block) (*Variable, hcl.Diagnostics) {
	v := &Variable{
		Name:      b.Labels[0],
		Type:      cty.DynamicPseudoType,
		DeclRange: hcl.RangeBetween(b.DefRange, b.LabelRanges[0]),
	}
	content, diags := b.Body.Content(variableSchema)
	if a := content.Attributes["type"]; a != nil {
		ty, d := typeexpr.TypeConstraint(a.Expr)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.Type = ty
		}
	}
	if a := content.Attributes["description"]; a != nil {
		diags = append(diags, decodeStatic(a, cty.String, func(val cty.Value) { v.Description = val.AsString() })...)
	}
	if a := content.Attributes["sensitive"]; a != nil {
		diags = append(diags, decodeStatic(a, cty.Bool, func(val cty.Value) { v.Sensitive = val.True() })...)
	}
	if a := content.Attributes["default"]; a != nil {
		// A default that cannot be used still counts as one, so the
		// variable is not reported as missing a value too.
		v.Default = cty.UnknownVal(v.Type)
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if !d.HasErrors() {
			conv, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", err),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				v.Default = conv
			}
		}
	}
	return v, diags
}

// decodeStatic evaluates an attribute that may use no references or
// functions, such as a variable's description.
func decodeStatic(a *hcl.Attribute, ty cty.Type, set func(cty.Value)) hcl.Diagnostics {
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	conv, err := convert.Convert(val, ty)
	if err != nil || conv.IsNull() {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s required.", a.Name, ty.FriendlyName()),
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	set(conv)
	return nil
}

// assignVariables sets every variable's Value from, in increasing
// precedence, its default, BENCHFORM_VAR_ environment variables, and the
// -var and -var-file arguments in the order given.
func (c *Config) assignVariables(opts LoadOptions) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, v := range c.Variables {
		if v.Default != cty.NilVal {
			v.Value, v.Source = v.Default, "default"
		}
	}

	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	for _, kv := range environ {
		name, raw, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvVarPrefix) {
			continue
		}
		varName := strings.TrimPrefix(name, EnvVarPrefix)
		v := c.Variables[varName]
		if v == nil {
			// The environment is shared with other configurations, so a
			// value for a variable this one does not declare is not an error.
			continue
		}
		diags = append(diags, c.assignRaw(v, raw, name, fmt.Sprintf("<value for var.%s from %s>", varName, name))...)
	}

	for _, arg := range opts.Vars {
		if arg.File != "" {
			diags = append(diags, c.assignFile(arg.File)...)
			continue
		}
		name, raw, ok := strings.Cut(arg.Assignment, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid -var option",
				Detail:   fmt.Sprintf("The option -var %q is not of the form NAME=VALUE.", arg.Assignment),
			})
			continue
		}
		v := c.Variables[name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("A variable named %q was assigned with -var, but the configuration declares no such variable. Declare it with a variable block, or remove the option.", name),
			})
			continue
		}
		diags = append(diags, c.assignRaw(v, raw, "-var", fmt.Sprintf("<value for var.%s from -var>", name))...)
	}

	for _, v := range c.Variables {
		if v.Value == cty.NilVal && opts.AllowUnset {
			v.Value = cty.UnknownVal(v.Type)
		}
		if v.Value == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("The variable %q has no default, so it needs a value: -var %s=..., a -var-file, or the environment variable %s%s.", v.Name, v.Name, EnvVarPrefix, v.Name),
				Subject:  v.DeclRange.Ptr(),
			})
			v.Value = cty.UnknownVal(v.Type)
		}
		if v.Sensitive {
			v.Value = v.Value.Mark(Sensitive)
		}
	}
	return diags
}

// assignRaw sets a variable from text given outside any file. Text for a
// string, number or bool (or an untyped variable) is taken literally, as
// shells pass it; anything else is read as an HCL expression. The text gets a
// pseudo file name so a diagnostic about it can point somewhere.
func (c *Config) assignRaw(v *Variable, raw, source, pseudoFile string) hcl.Diagnostics {
	c.files[pseudoFile] = &hcl.File{Bytes: []byte(raw)}
	rng := hcl.Range{
		Filename: pseudoFile,
		Start:    hcl.InitialPos,
		End:      hcl.Pos{Line: 1, Column: len(raw) + 1, Byte: len(raw)},
	}
	var val cty.Value
	if v.Type.IsPrimitiveType() || v.Type == cty.DynamicPseudoType {
		val = cty.StringVal(raw)
	} else {
		expr, diags := hclsyntax.ParseExpression([]byte(raw), pseudoFile, hcl.InitialPos)
		if diags.HasErrors() {
			return diags
		}
		val, diags = expr.Value(nil)
		if diags.HasErrors() {
			return diags
		}
	}
	return c.setVariable(v, val, source, rng)
}

func (c *Config) setVariable(v *Variable, val cty.Value, source string, rng hcl.Range) hcl.Diagnostics {
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		detail := fmt.Sprintf("The value given for var.%s is not a %s: %s.", v.Name, v.Type.FriendlyNameForConstraint(), err)
		if v.Sensitive {
			detail = fmt.Sprintf("The value given for var.%s is not a %s.", v.Name, v.Type.FriendlyNameForConstraint())
		}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   detail,
			Subject:  rng.Ptr(),
		}}
	}
	v.Value, v.Source = conv, source
	return nil
}

// assignFile sets variables from a -var-file, an HCL file of name = value
// attributes.
func (c *Config) assignFile(path string) hcl.Diagnostics {
	src, diags := ReadSource(path)
	if diags.HasErrors() {
		return diags
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if f != nil {
		c.files[path] = f
	}
	if diags.HasErrors() {
		return diags
	}
	attrs, diags := f.Body.JustAttributes()
	for _, a := range sortedAttributes(attrs) {
		v := c.Variables[a.Name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail:   fmt.Sprintf("The variables file sets %q, but the configuration declares no variable of that name; the value is ignored.", a.Name),
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		val, d := a.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		diags = append(diags, c.setVariable(v, val, "-var-file="+path, a.Expr.Range())...)
	}
	return diags
}

// AssignedName returns the variable a -var assignment sets.
func (a VarArg) AssignedName() string {
	name, _, _ := strings.Cut(a.Assignment, "=")
	return strings.TrimSpace(name)
}
