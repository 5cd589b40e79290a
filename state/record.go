package state

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// RequestRecord is the measurement of one request of a step.
type RequestRecord struct {
	RunID int64
	Step  int
	// Seq numbers the requests of a step; (RunID, Step, Seq) is unique.
	Seq       int
	RequestID string
	Warmup    bool
	// Start is when the request was sent, from the start of the step.
	Start     time.Duration
	QueueTime time.Duration
	TTFT      time.Duration
	E2EL      time.Duration
	// Gaps holds one entry per gap between streamed chunks; none may be
	// negative. Stored compactly (see the package documentation); an empty
	// slice reads back as nil.
	Gaps         []time.Duration
	PromptTokens int
	OutputTokens int
	// TokenSource says where the token counts came from (the server's
	// usage, or counted chunks).
	TokenSource string
	// Lag is the part of QueueTime the client itself caused.
	Lag time.Duration
	// TokenEvents and UsageTokens are the client's and the server's counts
	// of what the request streamed, UsageReasoningTokens the server's count
	// of the reasoning among them.
	TokenEvents          int
	UsageTokens          int
	UsageReasoningTokens int
	// ChunkTokens holds the tokens each token event carried when the
	// server reported them, nil otherwise; stored as uvarints.
	ChunkTokens []uint32
	// MaxTokens is the output limit the request was sent with; 0 when not
	// recorded.
	MaxTokens int
	// TTFC is when the first answer token arrived, zero when none did or
	// it was not recorded.
	TTFC time.Duration
	// ReasoningTokens and AnswerTokens split OutputTokens between thinking
	// and answer, and ReasoningSource says where the split came from;
	// zero and empty when not recorded.
	ReasoningTokens int
	AnswerTokens    int
	ReasoningSource string
	HTTPStatus      int
	Error           string
}

// recordColumns are the columns of a request record, in the order
// recordValues gives them.
var recordColumns = []string{"run_id", "step", "seq", "request_id", "warmup", "start_ns", "queue_ns", "ttft_ns", "e2el_ns", "gaps",
	"prompt_tokens", "output_tokens", "token_source", "http_status", "error",
	"lag_ns", "token_events", "usage_tokens", "chunk_tokens", "max_tokens",
	"ttfc_ns", "reasoning_tokens", "answer_tokens", "reasoning_source", "usage_reasoning_tokens"}

// recordValues are a record's column values, its packed gaps and token
// counts NULL when it has none. They are packed into gapBuf and tokBuf,
// which a caller that binds a row before packing the next can reuse.
func recordValues(r *RequestRecord, gapBuf, tokBuf *[]byte) ([]any, error) {
	var err error
	*gapBuf, err = appendGaps((*gapBuf)[:0], r.Gaps)
	if err != nil {
		return nil, fmt.Errorf("run %d step %d seq %d: %w", r.RunID, r.Step, r.Seq, err)
	}
	var gaps any
	if len(*gapBuf) > 0 {
		gaps = *gapBuf
	}
	var chunkTokens any
	if r.ChunkTokens != nil {
		*tokBuf = (*tokBuf)[:0]
		for _, n := range r.ChunkTokens {
			*tokBuf = binary.AppendUvarint(*tokBuf, uint64(n))
		}
		chunkTokens = *tokBuf
	}
	return []any{r.RunID, r.Step, r.Seq, r.RequestID, r.Warmup,
		int64(r.Start), int64(r.QueueTime), int64(r.TTFT), int64(r.E2EL), gaps,
		r.PromptTokens, r.OutputTokens, r.TokenSource, r.HTTPStatus, r.Error,
		int64(r.Lag), r.TokenEvents, r.UsageTokens, chunkTokens, r.MaxTokens,
		int64(r.TTFC), r.ReasoningTokens, r.AnswerTokens, r.ReasoningSource, r.UsageReasoningTokens}, nil
}

// InsertRecords stores recs in one transaction: all of them or, on error,
// none. Their runs must exist. PostgreSQL takes them by COPY, one round
// trip for the batch.
func (s *Store) InsertRecords(recs []RequestRecord) error {
	if len(recs) == 0 {
		return nil
	}
	fail := func(err error) error { return fmt.Errorf("state: insert records: %w", err) }
	if s.pg != nil {
		// COPY holds every row until it sends them: each its own buffers.
		rows := make([][]any, len(recs))
		for i := range recs {
			var gapBuf, tokBuf []byte
			v, err := recordValues(&recs[i], &gapBuf, &tokBuf)
			if err != nil {
				return fail(err)
			}
			rows[i] = v
		}
		if err := s.pgCopyRecords(recs, rows); err != nil {
			return fail(err)
		}
		return nil
	}
	tx, err := s.begin(context.Background())
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare("INSERT INTO records (" + strings.Join(recordColumns, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(recordColumns)-1) + ")")
	if err != nil {
		return fail(err)
	}
	defer stmt.Close()
	// The driver copies a bound blob, so one pair of buffers serves every
	// record.
	var gapBuf, tokBuf []byte
	for i := range recs {
		v, err := recordValues(&recs[i], &gapBuf, &tokBuf)
		if err != nil {
			return fail(err)
		}
		if _, err := stmt.Exec(v...); err != nil {
			r := &recs[i]
			return fail(fmt.Errorf("run %d step %d seq %d: %w", r.RunID, r.Step, r.Seq, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// Records returns the records of run runID, of one step or, when step is
// negative, of all steps, ordered by step and seq.
func (s *Store) Records(runID int64, step int) ([]RequestRecord, error) {
	fail := func(err error) ([]RequestRecord, error) {
		return nil, fmt.Errorf("state: read records of run %d: %w", runID, err)
	}
	q := `SELECT run_id, step, seq, request_id, warmup, start_ns, queue_ns, ttft_ns, e2el_ns, gaps,
		prompt_tokens, output_tokens, token_source, http_status, error,
		lag_ns, token_events, usage_tokens, chunk_tokens, max_tokens,
		ttfc_ns, reasoning_tokens, answer_tokens, reasoning_source, usage_reasoning_tokens
		FROM records WHERE run_id = ?`
	args := []any{runID}
	if step >= 0 {
		q += " AND step = ?"
		args = append(args, step)
	}
	rows, err := s.query(q+" ORDER BY step, seq", args...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var out []RequestRecord
	var blob, tokBlob sql.RawBytes
	for rows.Next() {
		var r RequestRecord
		var start, queue, ttft, e2el, lag, ttfc int64
		if err := rows.Scan(&r.RunID, &r.Step, &r.Seq, &r.RequestID, &r.Warmup,
			&start, &queue, &ttft, &e2el, &blob,
			&r.PromptTokens, &r.OutputTokens, &r.TokenSource, &r.HTTPStatus, &r.Error,
			&lag, &r.TokenEvents, &r.UsageTokens, &tokBlob, &r.MaxTokens,
			&ttfc, &r.ReasoningTokens, &r.AnswerTokens, &r.ReasoningSource, &r.UsageReasoningTokens); err != nil {
			return fail(err)
		}
		r.Start, r.QueueTime, r.TTFT, r.E2EL = time.Duration(start), time.Duration(queue), time.Duration(ttft), time.Duration(e2el)
		r.Lag, r.TTFC = time.Duration(lag), time.Duration(ttfc)
		if tokBlob != nil {
			if r.ChunkTokens, err = decodeTokens(tokBlob); err != nil {
				return fail(fmt.Errorf("step %d seq %d: %w", r.Step, r.Seq, err))
			}
		}
		if r.Gaps, err = decodeGaps(blob); err != nil {
			return fail(fmt.Errorf("step %d seq %d: %w", r.Step, r.Seq, err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// appendGaps appends the stored form of gaps to dst: each gap in
// nanoseconds as an unsigned varint (binary.AppendUvarint), concatenated,
// with no header; no gaps append nothing. A gap of 2 ms takes 3 bytes, one
// under 268 ms 4. Negative gaps are refused rather than stored as 10-byte
// two's complement values that no reader would expect.
func appendGaps(dst []byte, gaps []time.Duration) ([]byte, error) {
	for i, g := range gaps {
		if g < 0 {
			return dst, fmt.Errorf("gap %d is negative (%v)", i, g)
		}
		dst = binary.AppendUvarint(dst, uint64(g))
	}
	return dst, nil
}

// errGaps is wrapped by every error of decodeGaps.
var errGaps = errors.New("malformed gaps")

// decodeGaps reads what appendGaps wrote. It accepts exactly the bytes
// appendGaps can produce: a truncated or over-long varint, a value with
// redundant trailing zero groups, or one beyond the range of time.Duration
// is an error, never a panic or a silently wrong value.
func decodeGaps(b []byte) ([]time.Duration, error) {
	if len(b) == 0 {
		return nil, nil
	}
	// Each varint ends with the one byte whose high bit is clear, so
	// counting those sizes the slice exactly for well-formed input.
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	gaps := make([]time.Duration, 0, n)
	for off := 0; off < len(b); {
		v, k := binary.Uvarint(b[off:])
		switch {
		case k == 0:
			return nil, fmt.Errorf("%w: gap %d at byte %d: truncated varint", errGaps, len(gaps), off)
		case k < 0:
			return nil, fmt.Errorf("%w: gap %d at byte %d: varint overflows 64 bits", errGaps, len(gaps), off)
		case k > 1 && b[off+k-1] == 0:
			return nil, fmt.Errorf("%w: gap %d at byte %d: non-minimal varint", errGaps, len(gaps), off)
		case v > math.MaxInt64:
			return nil, fmt.Errorf("%w: gap %d at byte %d: %d ns is out of range", errGaps, len(gaps), off, v)
		}
		gaps = append(gaps, time.Duration(v))
		off += k
	}
	return gaps, nil
}

// decodeTokens reads per-event token counts stored as uvarints.
func decodeTokens(b []byte) ([]uint32, error) {
	out := make([]uint32, 0, len(b))
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxUint32 {
			return nil, errors.New("malformed chunk token counts")
		}
		out = append(out, uint32(v))
		b = b[n:]
	}
	return out, nil
}
