package lang

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/benchform/benchform/providers"
)

// The helpers below build hcldec specs whose validation runs where the value
// is decoded, so that a diagnostic points at the offending expression.
// Unknown and null values pass: they are checked again when known.

func attr(name string, ty cty.Type) hcldec.Spec {
	return &hcldec.AttrSpec{Name: name, Type: ty}
}

func validated(spec hcldec.Spec, check func(cty.Value) error) hcldec.Spec {
	return &hcldec.ValidateSpec{
		Wrapped: spec,
		Func: func(v cty.Value) hcl.Diagnostics {
			if !v.IsWhollyKnown() || v.IsNull() {
				return nil
			}
			v, _ = v.UnmarkDeep()
			if err := check(v); err != nil {
				return hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for " + attrName(spec),
					Detail:   sentence(err.Error()),
				}}
			}
			return nil
		},
	}
}

func attrName(spec hcldec.Spec) string {
	if a, ok := spec.(*hcldec.AttrSpec); ok {
		return fmt.Sprintf("%q", a.Name)
	}
	return "argument"
}

// durationAttr is a string such as "500ms" or "2m".
func durationAttr(name string, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.String, Required: required}, named(name, providers.Duration))
}

// positiveDurationAttr is a duration above zero: a bound of zero would
// fail everything it bounds.
func positiveDurationAttr(name string) hcldec.Spec {
	return validated(attr(name, cty.String), named(name, func(v cty.Value) error {
		if err := providers.Duration(v); err != nil {
			return err
		}
		if d, _ := ParseDuration(v.AsString()); d <= 0 {
			return fmt.Errorf("must be above zero, got %q", v.AsString())
		}
		return nil
	}))
}

// ParseDuration reads a duration as written in configuration: Go's syntax
// ("1h30m", "250ms", "1.5s").
func ParseDuration(s string) (time.Duration, error) { return providers.ParseDuration(s) }

// named prefixes a validator's errors with the attribute they are about.
func named(name string, check func(cty.Value) error) func(cty.Value) error {
	return func(v cty.Value) error {
		if err := check(v); err != nil {
			return fmt.Errorf("%s %w", name, err)
		}
		return nil
	}
}

// intAttr is a whole number of at least min.
func intAttr(name string, min int64, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.Number, Required: required}, func(v cty.Value) error {
		return checkInt(name, v, min)
	})
}

func checkInt(name string, v cty.Value, min int64) error {
	return named(name, providers.WholeNumber(min, math.MaxInt32))(v)
}

// numberAttr is a number within [min, max].
func numberAttr(name string, min, max float64) hcldec.Spec {
	return validated(attr(name, cty.Number), named(name, providers.NumberBetween(min, max)))
}

// enumAttr is one of a fixed set of strings.
func enumAttr(name string, required bool, values ...string) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.String, Required: required}, func(v cty.Value) error {
		return checkEnum(name, v.AsString(), values)
	})
}

func checkEnum(name, got string, values []string) error {
	return named(name, providers.OneOf(values...))(cty.StringVal(got))
}

func quoteList(values []string) string { return providers.QuoteList(values) }

// urlAttr is an http or https URL.
func urlAttr(name string) hcldec.Spec {
	return validated(attr(name, cty.String), named(name, providers.HTTPURL))
}

// intListAttr is a non-empty list of whole numbers of at least min.
func intListAttr(name string, min int64, required bool) hcldec.Spec {
	return validated(&hcldec.AttrSpec{Name: name, Type: cty.List(cty.Number), Required: required}, func(v cty.Value) error {
		if v.LengthInt() == 0 {
			return fmt.Errorf("%s must list at least one value", name)
		}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if err := checkInt(name+" values", e, min); err != nil {
				return err
			}
		}
		return nil
	})
}

// block is an optional nested block, or a required one.
func block(name string, required bool, nested hcldec.ObjectSpec) hcldec.Spec {
	return &hcldec.BlockSpec{TypeName: name, Nested: nested, Required: required}
}

// sentence capitalises a message and ends it with a period, the form of a
// diagnostic's detail.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
