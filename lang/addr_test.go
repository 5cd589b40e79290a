package lang

import (
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	for _, s := range []string{"pod.h100", "server.my-server", "scenario.chat", "var.model", "local.x", "output.endpoint",
		"pod.gpu[0]", "pod.gpu[12]", `server.llm["vllm"]`, `server.llm["with \"quotes\" and $${x}"]`, `scenario.s["a.b"]`} {
		a, err := ParseAddr(s)
		if err != nil {
			t.Errorf("ParseAddr(%s): %v", s, err)
			continue
		}
		if a.String() != s {
			t.Errorf("ParseAddr(%s).String() = %s", s, a)
		}
	}
	for s, want := range map[string]string{
		"":                   "want KIND.NAME",
		"pod":                "want KIND.NAME",
		"gpu.x":              `unknown kind "gpu"`,
		"pod.a.b":            "want KIND.NAME",
		"pod.9x":             "want KIND.NAME",
		"server.my server":   "want KIND.NAME",
		"pod.":               "want KIND.NAME",
		"thing.x":            `unknown kind "thing"`,
		"var.x[0]":           "only a pod, server or scenario has instances",
		"pod.gpu[-1]":        "want KIND.NAME",
		"pod.gpu[1.5]":       "a count index is a whole number from 0, not 1.5",
		"pod.gpu[0][1]":      "want KIND.NAME",
		`server.llm[ "a" ]`:  "",
		"server.llm.vllm":    "want KIND.NAME",
		"scenario.chat.more": "want KIND.NAME",
	} {
		a, err := ParseAddr(s)
		switch {
		case want == "" && err != nil:
			t.Errorf("ParseAddr(%s): %v", s, err)
		case want == "" && a.String() != `server.llm["a"]`:
			t.Errorf("ParseAddr(%s) = %s, want the canonical server.llm[\"a\"]", s, a)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("ParseAddr(%s) = %v, %v; want an error saying %q", s, a, err, want)
		}
	}
}

func TestAddrOrder(t *testing.T) {
	ordered := []string{"pod.a", "pod.gpu[2]", "pod.gpu[10]", `server.llm["sglang"]`, `server.llm["vllm"]`}
	for i := 1; i < len(ordered); i++ {
		a, _ := ParseAddr(ordered[i-1])
		b, _ := ParseAddr(ordered[i])
		if !a.Less(b) || b.Less(a) {
			t.Errorf("%s should sort before %s", a, b)
		}
	}
	a, _ := ParseAddr(`server.llm["vllm"]`)
	if a.Block().String() != "server.llm" || KeyValue(a.Key).AsString() != "vllm" {
		t.Errorf("Block %s, key value %#v", a.Block(), KeyValue(a.Key))
	}
	if k := StringKey("${x} \"q\""); k != `"$${x} \"q\""` || KeyValue(k).AsString() != "${x} \"q\"" {
		t.Errorf("StringKey = %s, back %#v", k, KeyValue(k))
	}
	if n := KeyValue(IntKey(3)); n.AsBigFloat().String() != "3" {
		t.Errorf("KeyValue(3) = %#v", n)
	}
}
