package runpod

import "strings"

// shellQuote quotes s for a POSIX shell and for RunPod, which splits a
// pod's args string shell-style into the argv of the image's ENTRYPOINT.
// Words made only of characters no shell treats specially stay bare, so
// that commands read as written; keyRef alone is double-quoted, for the
// container's shell to expand.
func shellQuote(s string) string {
	if s == keyRef {
		return `"` + keyRef + `"`
	}
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each word and joins them with spaces.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}
