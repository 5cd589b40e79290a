package simulated

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark of
// the handler measures the server's own work per token.
type discardWriter struct {
	header http.Header
	n      int64
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Flush()              {}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return len(b), nil
}

// BenchmarkStream measures the server's cost per streamed token (one op is
// one token) with the timing model out of the way: "handler" calls the
// handler directly, "loopback" goes through HTTP on 127.0.0.1 and includes
// the client's reading.
func BenchmarkStream(b *testing.B) {
	const perRequest = 4000
	body := func(n int) []byte {
		return fmt.Appendf(nil, `{"messages":[{"role":"user","content":"benchmark prompt"}],"max_tokens":%d,"stream":true,"stream_options":{"include_usage":true}}`, n)
	}
	m := Model{TTFT: 0, ITL: 0}

	b.Run("handler", func(b *testing.B) {
		s, err := NewServer(m)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		h := s.Handler()
		w := &discardWriter{header: http.Header{}}
		b.ReportAllocs()
		b.ResetTimer()
		for left := b.N; left > 0; left -= perRequest {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body(min(left, perRequest))))
			h.ServeHTTP(w, req)
		}
		b.SetBytes(w.n / int64(max(b.N, 1)))
	})

	b.Run("loopback", func(b *testing.B) {
		_, url := startServer(b, m)
		b.ReportAllocs()
		b.ResetTimer()
		for left := b.N; left > 0; left -= perRequest {
			resp, err := testClient.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body(min(left, perRequest))))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
