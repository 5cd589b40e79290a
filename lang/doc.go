// Package lang reads a benchform configuration: every *.hcl file of a
// directory, the values of its variables, and the references between its
// blocks.
//
// Loading checks shape, types and references and returns every problem as an
// hcl.Diagnostic with a source range, all of them together. Values that depend
// on pods and servers are evaluated later, by the executor, against a Scope
// that holds what is known at that moment (state during plan, provider
// results during apply); anything not yet known stays a cty unknown.
//
// The package imports nothing else from the project.
package lang
