package jsonerror

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	var v struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	for doc, want := range map[string]string{
		`{"choices":"x"}`:                     "field choices: got a JSON string, want an array",
		`{"usage":{"completion_tokens":1.5}}`: "field usage.completion_tokens: got a JSON number 1.5, want an integer",
		`{"data":[{"id":7}]}`:                 "field data.id: got a JSON number, want a string",
		`[1]`:                                 "got a JSON array, want an object",
		`<html>`:                              "not JSON (at byte 1)",
		`{"choices":[`:                        "JSON cut off (at byte 12)",
	} {
		err := json.Unmarshal([]byte(doc), &v)
		if err == nil {
			t.Fatalf("%s decoded", doc)
		}
		got := Describe(err)
		if got != want {
			t.Errorf("%s: %q, want %q", doc, got, want)
		}
		if strings.Contains(got, "Go") || strings.Contains(got, "struct") {
			t.Errorf("%s: %q names Go types", doc, got)
		}
	}
}
