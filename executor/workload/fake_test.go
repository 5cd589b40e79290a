package workload

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Chunks as vLLM's OpenAI server writes them.
const (
	chatRole = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	done     = "data: [DONE]\n\n"
)

func chatToken(text string) string {
	return fmt.Sprintf(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"logprobs":null,"finish_reason":null}]}`+"\n\n", text)
}

func complToken(text string) string {
	return fmt.Sprintf(`data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":%q,"logprobs":null,"finish_reason":null,"stop_reason":null}]}`+"\n\n", text)
}

func usageChunk(prompt, completion int) string {
	return fmt.Sprintf(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d,"prompt_tokens_details":null}}`+"\n\n", prompt, prompt+completion, completion)
}

// act is one action of a scripted response: write text and flush, or
// sleep first.
type act struct {
	sleep time.Duration
	write string
}

func writes(pieces ...string) []act {
	out := make([]act, len(pieces))
	for i, p := range pieces {
		out[i] = act{write: p}
	}
	return out
}

// script answers every request with status and then the steps, flushing
// after each write. A sleep ends early when the client goes away.
func script(status int, steps []act) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		f := w.(http.Flusher)
		f.Flush()
		for _, s := range steps {
			if s.sleep > 0 {
				select {
				case <-time.After(s.sleep):
				case <-r.Context().Done():
					return
				}
			}
			if s.write != "" {
				if _, err := io.WriteString(w, s.write); err != nil {
					return
				}
				f.Flush()
			}
		}
	}
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func target(srv *httptest.Server) Target {
	return Target{BaseURL: srv.URL, Model: "m"}
}
