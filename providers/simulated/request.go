package simulated

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxBodyBytes bounds a request body; prompts far beyond any context
// length are refused before they are read whole.
const maxBodyBytes = 32 << 20

// job is a parsed generation request, reduced to what the timing model and
// the response need.
type job struct {
	promptTokens    int
	maxTokens       int
	maxTokensGiven  bool
	stream          bool
	includeUsage    bool
	continuousUsage bool
	// promptHash identifies the prompt alone, for the prefix cache;
	// contentHash adds the output length and seeds the request's draws.
	promptHash  uint64
	contentHash uint64
}

type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

type chatBody struct {
	Model               string         `json:"model"`
	Messages            []chatMessage  `json:"messages"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type completionBody struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	MaxTokens     *int            `json:"max_tokens"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
}

// badRequest is a request the server refuses: the status, the OpenAI error
// type and a message worded for the client, as vLLM words it.
type badRequest struct {
	status  int
	kind    string
	message string
}

func (e *badRequest) Error() string { return e.message }

func invalid(format string, args ...any) *badRequest {
	return &badRequest{http.StatusBadRequest, "BadRequestError", fmt.Sprintf(format, args...)}
}

// parseJob reads a chat or completions body.
func parseJob(r io.Reader, api apiKind, m Model) (job, *badRequest) {
	var (
		j         job
		model     string
		maxTokens *int
		opts      *streamOptions
		h         = newFNV()
	)
	h.writeUint64(uint64(api))
	dec := json.NewDecoder(r)
	switch api {
	case apiChat:
		var b chatBody
		if err := dec.Decode(&b); err != nil {
			return j, bodyError(err)
		}
		if len(b.Messages) == 0 {
			return j, invalid("messages: a non-empty list of messages is required")
		}
		texts := make([]string, 0, len(b.Messages))
		for i, msg := range b.Messages {
			text, err := messageText(msg.Content)
			if err != nil {
				return j, invalid("messages[%d].content: %v", i, err)
			}
			texts = append(texts, text)
			h.writeString(msg.Role)
			h.writeUint64(0)
			h.writeString(text)
			h.writeUint64(0)
		}
		j.promptTokens = countTokens(texts...)
		model, maxTokens, opts, j.stream = b.Model, b.MaxTokens, b.StreamOptions, b.Stream
		if b.MaxCompletionTokens != nil {
			maxTokens = b.MaxCompletionTokens
		}
	case apiCompletions:
		var b completionBody
		if err := dec.Decode(&b); err != nil {
			return j, bodyError(err)
		}
		n, err := promptTokens(b.Prompt, &h)
		if err != nil {
			return j, invalid("prompt: %v", err)
		}
		j.promptTokens = n
		model, maxTokens, opts, j.stream = b.Model, b.MaxTokens, b.StreamOptions, b.Stream
	}

	if model != "" && model != m.ServedModel {
		return j, &badRequest{http.StatusNotFound, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", model)}
	}
	// Without max_tokens vLLM generates up to the end of the context; the
	// simulator stops at DefaultMaxTokens before that.
	j.maxTokens = max(1, min(m.DefaultMaxTokens, m.MaxModelLen-j.promptTokens))
	if maxTokens != nil {
		if *maxTokens < 1 {
			return j, invalid("max_tokens must be at least 1, got %d", *maxTokens)
		}
		j.maxTokens, j.maxTokensGiven = *maxTokens, true
	}
	if total := j.promptTokens + j.maxTokens; total > m.MaxModelLen {
		return j, invalid("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			m.MaxModelLen, total, j.promptTokens, j.maxTokens)
	}
	if opts != nil {
		j.includeUsage, j.continuousUsage = opts.IncludeUsage, opts.ContinuousUsageStats
	}
	j.promptHash = uint64(h)
	h.writeUint64(uint64(j.maxTokens))
	j.contentHash = uint64(h)
	return j, nil
}

func bodyError(err error) *badRequest {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &badRequest{http.StatusRequestEntityTooLarge, "BadRequestError", fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit)}
	}
	return invalid("invalid JSON body: %v", err)
}

// messageText returns a message's text: a string, null, or a list of parts
// of which the text parts count.
func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("must be a string or a list of content parts")
	}
	var buf bytes.Buffer
	for _, p := range parts {
		if p.Type == "text" || p.Type == "" {
			buf.WriteString(p.Text)
			buf.WriteByte(' ')
		}
	}
	return buf.String(), nil
}

// promptTokens counts a completions prompt: a string, a list of strings, a
// list of token ids or a list of such lists; of a list of prompts the first
// is served, as the simulator answers with one choice.
func promptTokens(raw json.RawMessage, h *fnv64a) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, errors.New("a prompt is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		h.writeString(s)
		return countTokens(s), nil
	}
	var ids []int64
	if err := json.Unmarshal(raw, &ids); err == nil {
		return hashIDs(ids, h)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, errors.New("must be a string, a list of strings or a list of token ids")
	}
	if len(list) == 0 {
		return 0, errors.New("a prompt is required")
	}
	if err := json.Unmarshal(list[0], &s); err == nil {
		h.writeString(s)
		return countTokens(s), nil
	}
	if err := json.Unmarshal(list[0], &ids); err == nil {
		return hashIDs(ids, h)
	}
	return 0, errors.New("must be a string, a list of strings or a list of token ids")
}

func hashIDs(ids []int64, h *fnv64a) (int, error) {
	if len(ids) == 0 {
		return 0, errors.New("a prompt is required")
	}
	for _, id := range ids {
		h.writeString(strconv.FormatInt(id, 10))
		h.writeUint64(1)
	}
	return len(ids), nil
}
