package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/benchform/benchform/executor/workload"
)

func loadJSONL(spec Spec, n int) (Set, error) {
	path, err := resolve(spec)
	if err != nil {
		return Set{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Set{}, fmt.Errorf("jsonl: %w", err)
	}
	defer f.Close()
	prompts, err := readJSONL(f, spec.Path, n, spec.Output, spec.Seed)
	if err != nil {
		return Set{}, err
	}
	note := fmt.Sprintf("%s, %d %s, input tokens estimated from text", spec.Path, len(prompts), plural(len(prompts), "record", "records"))
	return Set{Prompts: prompts, Note: note + outputNote(spec.Output, "output_tokens")}, nil
}

// readJSONL reads up to n records from r; name is the file as the user
// wrote it, for errors. A record without its own output length gets one
// drawn from out.
func readJSONL(r io.Reader, name string, n int, out Length, seed int64) ([]workload.Prompt, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var prompts []workload.Prompt
	for line := 1; len(prompts) < n; line++ {
		// ReadBytes rather than a Scanner: a record may be longer than any
		// fixed token limit.
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			p, perr := parseRecord(b)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %s", name, line, perr)
			}
			if p.OutputTokens == 0 {
				r := newRNG(seed, streamRecord, len(prompts))
				p.OutputTokens = out.draw(&r, 1)
			}
			prompts = append(prompts, p)
		}
		if err != nil { // io.EOF, after the last line
			break
		}
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%s: no records", name)
	}
	return prompts, nil
}

// parseRecord decodes one JSON Lines record. Its errors name the field and
// what it should hold; unknown fields are ignored, as datasets often carry
// ids and metadata.
func parseRecord(b []byte) (workload.Prompt, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return workload.Prompt{}, fmt.Errorf("invalid JSON: %s", syn)
		}
		return workload.Prompt{}, fmt.Errorf("expected a JSON object")
	}
	prompt, hasPrompt := fields["prompt"]
	messages, hasMessages := fields["messages"]
	var p workload.Prompt
	switch {
	case hasPrompt && hasMessages:
		return p, fmt.Errorf("set prompt or messages, not both")
	case hasPrompt:
		if err := json.Unmarshal(prompt, &p.Text); err != nil || isNull(prompt) {
			return p, fmt.Errorf("field prompt: expected a string")
		}
		if strings.TrimSpace(p.Text) == "" {
			return p, fmt.Errorf("field prompt: empty")
		}
	case hasMessages:
		msgs, err := parseMessages(messages)
		if err != nil {
			return p, err
		}
		p.Messages = msgs
		// Completions requests send the contents joined; chat sends the
		// messages themselves.
		texts := make([]string, len(msgs))
		for i, m := range msgs {
			texts[i] = m.Content
		}
		p.Text = strings.Join(texts, "\n")
	default:
		return p, fmt.Errorf("expected a prompt or messages field")
	}
	p.InputTokens = EstimateTokens(p.Text)
	for _, key := range []string{"output_tokens", "max_tokens"} {
		v, ok := fields[key]
		if !ok {
			continue
		}
		n, err := positiveInt(v)
		if err != nil {
			return p, fmt.Errorf("field %s: %s", key, err)
		}
		p.OutputTokens = n
		break // output_tokens, when both are set
	}
	return p, nil
}

func parseMessages(raw json.RawMessage) ([]workload.Message, error) {
	const want = "field messages: expected a list of {role, content}"
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || isNull(raw) {
		return nil, errors.New(want)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("field messages: empty list")
	}
	msgs := make([]workload.Message, len(list))
	for i, m := range list {
		if m == nil {
			return nil, errors.New(want)
		}
		for _, f := range []struct {
			key string
			dst *string
		}{{"role", &msgs[i].Role}, {"content", &msgs[i].Content}} {
			v, ok := m[f.key]
			if !ok {
				return nil, fmt.Errorf("field messages[%d]: missing %s", i, f.key)
			}
			if err := json.Unmarshal(v, f.dst); err != nil || isNull(v) {
				return nil, fmt.Errorf("field messages[%d].%s: expected a string", i, f.key)
			}
		}
		if msgs[i].Role == "" {
			return nil, fmt.Errorf("field messages[%d].role: empty", i)
		}
	}
	return msgs, nil
}

// positiveInt decodes a JSON number that is a whole number of at least 1.
func positiveInt(raw json.RawMessage) (int, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || isNull(raw) {
		return 0, fmt.Errorf("expected a number")
	}
	if f < 1 || f > maxLength || f != math.Trunc(f) {
		return 0, fmt.Errorf("expected a whole number from 1 to %d, got %s", maxLength, raw)
	}
	return int(f), nil
}

// isNull reports a JSON null, which json.Unmarshal accepts silently for
// any type.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
