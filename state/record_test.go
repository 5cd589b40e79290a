package state

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecords(t *testing.T) {
	s := newStore(t)
	run, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(step, seq int, gaps ...time.Duration) RequestRecord {
		return RequestRecord{RunID: run, Step: step, Seq: seq, RequestID: fmt.Sprintf("chatcmpl-%d-%d", step, seq),
			Start: time.Duration(seq) * time.Millisecond, QueueTime: 3 * time.Microsecond, TTFT: 40 * time.Millisecond,
			E2EL: 2 * time.Second, Gaps: gaps, PromptTokens: 512, OutputTokens: len(gaps) + 1, TokenSource: "usage", HTTPStatus: 200}
	}
	warm := rec(0, 0)
	warm.Warmup = true
	failed := rec(1, 0)
	failed.HTTPStatus, failed.Error, failed.TokenSource, failed.OutputTokens = 503, "server overloaded", "", 0
	edge := rec(1, 1, 0, 1, 127, 128, 16383, 16384, time.Hour, 1<<62, math.MaxInt64)
	long := make([]time.Duration, 5000)
	for i := range long {
		long[i] = time.Duration(i) * 7919 * time.Microsecond
	}
	all := []RequestRecord{edge, rec(0, 2, 20*time.Millisecond), warm, failed, rec(0, 1, long...)}
	if err := s.InsertRecords(all); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertRecords([]RequestRecord{{RunID: other, Step: 0, Seq: 0}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		step int
		want []RequestRecord
	}{
		{"all steps, by step and seq", -1, []RequestRecord{warm, rec(0, 1, long...), rec(0, 2, 20*time.Millisecond), failed, edge}},
		{"one step", 1, []RequestRecord{failed, edge}},
		{"step without records", 7, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Records(run, tt.step)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Records(%d, %d) (-want +got):\n%s", run, tt.step, diff)
			}
		})
	}
}

func TestInsertRecordsAllOrNothing(t *testing.T) {
	s := newStore(t)
	run, err := s.BeginRun(Run{Scenario: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	ok := RequestRecord{RunID: run, Seq: 0, Gaps: []time.Duration{time.Millisecond}}
	tests := []struct {
		name string
		recs []RequestRecord
		want string
	}{
		{"negative gap", []RequestRecord{ok, {RunID: run, Seq: 1, Gaps: []time.Duration{1, -5}}},
			fmt.Sprintf("state: insert records: run %d step 0 seq 1: gap 1 is negative (-5ns)", run)},
		{"missing run", []RequestRecord{ok, {RunID: 99, Seq: 1}},
			"state: insert records: run 99 step 0 seq 1: FOREIGN KEY constraint failed"},
		{"duplicate seq", []RequestRecord{ok, ok},
			fmt.Sprintf("state: insert records: run %d step 0 seq 0: UNIQUE constraint failed: records.run_id, records.step, records.seq", run)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.InsertRecords(tt.recs)
			if got := fmt.Sprint(err); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
			got, err := s.Records(run, -1)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 {
				t.Errorf("a failed batch left %d records", len(got))
			}
		})
	}
}

func TestGapsEncoding(t *testing.T) {
	tests := []struct {
		name string
		gaps []time.Duration
		enc  []byte
	}{
		{"none", nil, nil},
		{"one-byte values", []time.Duration{0, 1, 127}, []byte{0x00, 0x01, 0x7f}},
		{"two and three bytes", []time.Duration{128, 300, 16384}, []byte{0x80, 0x01, 0xac, 0x02, 0x80, 0x80, 0x01}},
		{"20ms", []time.Duration{20 * time.Millisecond}, []byte{0x80, 0xda, 0xc4, 0x09}},
		{"largest", []time.Duration{math.MaxInt64}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := appendGaps(nil, tt.gaps)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, tt.enc) {
				t.Errorf("appendGaps = % x, want % x", enc, tt.enc)
			}
			dec, err := decodeGaps(tt.enc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.gaps, dec); diff != "" {
				t.Errorf("decodeGaps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeGapsMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"truncated", []byte{0x05, 0x80}, "malformed gaps: gap 1 at byte 1: truncated varint"},
		{"overflow", bytes.Repeat([]byte{0xff}, 11), "malformed gaps: gap 0 at byte 0: varint overflows 64 bits"},
		{"non-minimal", []byte{0x80, 0x00}, "malformed gaps: gap 0 at byte 0: non-minimal varint"},
		{"beyond time.Duration", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
			"malformed gaps: gap 0 at byte 0: 18446744073709551615 ns is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeGaps(tt.in)
			if fmt.Sprint(err) != tt.want || !errors.Is(err, errGaps) {
				t.Errorf("decodeGaps(% x) error = %v, want %q", tt.in, err, tt.want)
			}
			if got != nil {
				t.Errorf("decodeGaps(% x) = %v with an error", tt.in, got)
			}
		})
	}
}

func FuzzDecodeGaps(f *testing.F) {
	for _, seed := range [][]byte{
		nil, {0}, {0x7f}, {0x80, 0x01}, {0x80}, {0x80, 0x00},
		{0x80, 0xda, 0xc4, 0x09, 0x00, 0xac, 0x02},
		bytes.Repeat([]byte{0xff}, 10), bytes.Repeat([]byte{0xff}, 11),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gaps, err := decodeGaps(b)
		if err != nil {
			if !errors.Is(err, errGaps) {
				t.Fatalf("error %v does not wrap errGaps", err)
			}
			return
		}
		// What decodes must be exactly what appendGaps writes for it.
		enc, err := appendGaps(nil, gaps)
		if err != nil {
			t.Fatalf("decoded gaps do not encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("decode then encode: % x, want % x", enc, b)
		}
	})
}

// benchRecords returns n records of one step with g gaps each, shaped like
// a real streaming request (gaps of 5–45 ms).
func benchRecords(run int64, step, n, g int) []RequestRecord {
	recs := make([]RequestRecord, n)
	for i := range recs {
		gaps := make([]time.Duration, g)
		for j := range gaps {
			gaps[j] = time.Duration(5_000_000 + (i*7919+j*104729)%40_000_000)
		}
		recs[i] = RequestRecord{RunID: run, Step: step, Seq: i, RequestID: fmt.Sprint("chatcmpl-", i),
			Start: time.Duration(i) * time.Millisecond, TTFT: 80 * time.Millisecond, E2EL: 5 * time.Second,
			Gaps: gaps, PromptTokens: 512, OutputTokens: g + 1, TokenSource: "usage", HTTPStatus: 200}
	}
	return recs
}

// BenchmarkInsertRecords stores batches of 10,000 records of 200 gaps.
func BenchmarkInsertRecords(b *testing.B) {
	s, err := Open(b.TempDir() + "/benchform.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchmarkInsert(b, s)
}

func benchmarkInsert(b *testing.B, s *Store) {
	run, err := s.BeginRun(Run{Scenario: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	const n, g = 10_000, 200
	recs := benchRecords(run, 0, n, g)
	step := 0
	for b.Loop() {
		for i := range recs {
			recs[i].Step = step
		}
		if err := s.InsertRecords(recs); err != nil {
			b.Fatal(err)
		}
		step++
	}
	b.ReportMetric(float64(n*step)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecords reads back one step of 10,000 records of 200 gaps.
func BenchmarkRecords(b *testing.B) {
	s, err := Open(b.TempDir() + "/benchform.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run, err := s.BeginRun(Run{Scenario: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.InsertRecords(benchRecords(run, 0, 10_000, 200)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		recs, err := s.Records(run, 0)
		if err != nil || len(recs) != 10_000 {
			b.Fatal(len(recs), err)
		}
	}
}

func TestGapsSize(t *testing.T) {
	recs := benchRecords(1, 0, 1, 200)
	enc, err := appendGaps(nil, recs[0].Gaps)
	if err != nil {
		t.Fatal(err)
	}
	// Gaps of 5–45 ms take 4 bytes each, against 8 for a fixed int64.
	if want := 4 * 200; len(enc) != want {
		t.Errorf("200 gaps of 5-45ms encode to %d bytes, want %d", len(enc), want)
	}
}

// TestRecordsMigratedFromSchema1 checks that request records written
// before per-event token counts existed read back after the migration, with
// those fields empty.
func TestRecordsMigratedFromSchema1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchform.db")
	old, id := runOnSchema(t, path, migrations[:1])
	if _, err := old.db.Exec(`INSERT INTO records (run_id, step, seq, request_id, warmup, start_ns, queue_ns, ttft_ns, e2el_ns, gaps,
		prompt_tokens, output_tokens, token_source, http_status, error) VALUES (?, 0, 0, 'r', 0, 1, 2, 3, 4, NULL, 5, 6, 'usage', 200, '')`, id); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Records(id, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := []RequestRecord{{RunID: id, RequestID: "r", Start: 1, QueueTime: 2, TTFT: 3, E2EL: 4, PromptTokens: 5, OutputTokens: 6, TokenSource: "usage", HTTPStatus: 200}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records after migration (-want +got):\n%s", diff)
	}
	// New records carry the new fields.
	rec := RequestRecord{RunID: id, Seq: 1, RequestID: "n", Lag: 7, TokenEvents: 3, UsageTokens: 4, ChunkTokens: []uint32{0, 1, 3}, MaxTokens: 48, TokenSource: "usage",
		TTFC: 9, ReasoningTokens: 3, AnswerTokens: 1, ReasoningSource: "chunks", UsageReasoningTokens: 2}
	if err := s.InsertRecords([]RequestRecord{rec}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Records(id, -1)
	if diff := cmp.Diff(rec, got[1]); diff != "" {
		t.Errorf("new record (-want +got):\n%s", diff)
	}
}

// TestRunOutcome: a run begun before outcomes existed reads back without
// one after the migration, and then records one.
func TestRunOutcome(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchform.db")
	old, id := runOnSchema(t, path, migrations[:4])
	old.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Run(id)
	if err != nil || r.Outcome != nil {
		t.Fatalf("run before outcomes: %+v, %v", r, err)
	}
	if err := s.SetRunOutcome(id, []byte(`{"searches":[]}`)); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Run(id); err != nil || string(r.Outcome) != `{"searches":[]}` {
		t.Errorf("outcome = %s, %v", r.Outcome, err)
	}
	if err := s.SetRunOutcome(id+1, []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("outcome of a missing run: %v, want ErrNotFound", err)
	}
}

// TestRecordsMigratedFromSchema5 checks that records of the schema before
// reasoning read back as requests without reasoning, next to new records
// that have it.
func TestRecordsMigratedFromSchema5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchform.db")
	old, id := runOnSchema(t, path, migrations[:5])
	if _, err := old.db.Exec(`INSERT INTO records (run_id, step, seq, request_id, warmup, start_ns, queue_ns, ttft_ns, e2el_ns, gaps,
		prompt_tokens, output_tokens, token_source, http_status, error, max_tokens) VALUES (?, 0, 0, 'old', 0, 0, 0, 3, 4, NULL, 0, 6, 'usage', 200, '', 6)`, id); err != nil {
		t.Fatal(err)
	}
	old.Close()
	before := RequestRecord{RunID: id, RequestID: "old", TTFT: 3, E2EL: 4, OutputTokens: 6, TokenSource: "usage", MaxTokens: 6, HTTPStatus: 200}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after := RequestRecord{RunID: id, Seq: 1, RequestID: "new", TTFT: 3, TTFC: 5, E2EL: 9, OutputTokens: 6, TokenSource: "usage", MaxTokens: 6,
		ReasoningTokens: 4, AnswerTokens: 2, ReasoningSource: "usage", UsageTokens: 6, UsageReasoningTokens: 4, HTTPStatus: 200}
	if err := s.InsertRecords([]RequestRecord{after}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Records(id, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]RequestRecord{before, after}, got); diff != "" {
		t.Errorf("records across the migration (-want +got):\n%s", diff)
	}
}

// runOnSchema opens path as a binary with only migs would, and begins a
// run there.
func runOnSchema(t *testing.T, path string, migs []migration) (*Store, int64) {
	t.Helper()
	old, err := openWith(path, migs)
	if err != nil {
		t.Fatal(err)
	}
	id, err := old.BeginRun(Run{Scenario: "scenario.a", Status: RunRunning})
	if err != nil {
		t.Fatal(err)
	}
	return old, id
}
