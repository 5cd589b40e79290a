package workload

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

const benchTokens = 1000

// benchEvents is a vLLM chat stream of benchTokens one-token chunks after
// its role-only opening chunk.
func benchEvents() []string {
	events := []string{chatRole}
	for range benchTokens {
		events = append(events, chatToken(" tok"))
	}
	return append(events, usageChunk(100, benchTokens), done)
}

// eventReader returns at most one event per Read, as a server flushing
// every chunk delivers them.
type eventReader struct {
	events []string
	cur    string
}

func (r *eventReader) Read(p []byte) (int, error) {
	if r.cur == "" {
		if len(r.events) == 0 {
			return 0, io.EOF
		}
		r.cur, r.events = r.events[0], r.events[1:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

type memTransport struct{ events []string }

func (m memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"text/event-stream"}},
		Body:       io.NopCloser(&eventReader{events: m.events}),
		Request:    req,
	}, nil
}

// BenchmarkStream measures the client's cost per streamed token. "memory"
// feeds one event per read with no network or server, so it is the
// client's own CPU; the httptest cases add loopback HTTP and, in the same
// process, the server's work.
func BenchmarkStream(b *testing.B) {
	events := benchEvents()
	whole := strings.Join(events, "")
	cases := []struct {
		name   string
		client func(b *testing.B) (*Client, Target)
	}{
		{"memory", func(b *testing.B) (*Client, Target) {
			c := NewClient(1)
			c.hc.Transport = memTransport{events: events}
			return c, Target{BaseURL: "http://bench.invalid", Model: "m"}
		}},
		{"httptest/flush-each", func(b *testing.B) (*Client, Target) {
			return NewClient(1), target(newServer(b, script(http.StatusOK, writes(events...))))
		}},
		{"httptest/one-write", func(b *testing.B) (*Client, Target) {
			return NewClient(1), target(newServer(b, script(http.StatusOK, writes(whole))))
		}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c, tg := bc.client(b)
			req := Request{API: APIChat, Prompt: Prompt{Text: "hi"}, MaxTokens: benchTokens, ID: "bench"}
			b.ReportAllocs()
			for b.Loop() {
				rec := c.Do(context.Background(), tg, req)
				if !rec.OK() || rec.OutputTokens != benchTokens || len(rec.Gaps) != benchTokens-1 {
					b.Fatalf("Do() = %v tokens, %d gaps, err %q", rec.OutputTokens, len(rec.Gaps), rec.Err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchTokens), "ns/token")
		})
	}
}
