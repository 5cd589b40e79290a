// Package jsonerror says what was wrong with JSON that a server sent in
// the document's own terms (a field, a JSON type, a byte offset) rather
// than in those of the Go types it was decoded into, which mean nothing to
// the person reading the error.
package jsonerror

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Describe says what a json.Unmarshal error found: "field choices: got a
// JSON string, want an array", "not JSON (at byte 3)".
func Describe(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %s: got a JSON %s, want %s", te.Field, te.Value, kind(te.Type))
	case errors.As(err, &te):
		return fmt.Sprintf("got a JSON %s, want %s", te.Value, kind(te.Type))
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input":
		return fmt.Sprintf("JSON cut off (at byte %d)", se.Offset)
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (at byte %d)", se.Offset)
	}
	return err.Error()
}

// kind names the JSON a Go type is decoded from.
func kind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "something else"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "something else"
}
