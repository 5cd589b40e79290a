package dataset

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/benchform/benchform/executor/workload"
)

// vLLM's ShareGPT length filters (is_valid_sequence in
// vllm/benchmarks/datasets.py), here on estimated rather than tokenized
// lengths.
const (
	minSampleTokens = 4
	maxPromptTokens = 1024
	maxSampleTokens = 2048
)

// loadShareGPT samples n conversations from a ShareGPT file.
//
// vLLM loads the whole file, shuffles it with the seed and takes the first
// n conversations that pass its filters. A 650 MB file does not fit that
// plan well, and stopping early would sample only the file's head, so this
// reads the file once as a stream and gives every conversation a random
// key drawn from the seed and its position; the n usable conversations
// with the smallest keys, in key order, are a uniform seeded shuffle's
// first n, as in vLLM, and the first k of them are what a smaller n gets.
// The cost is one full pass over the file for any n, mostly JSON decoding
// (about 15 s for a 650 MB file on one core); only conversations whose key
// could still be picked have their lengths estimated. Memory holds n
// prompts and one conversation.
func loadShareGPT(spec Spec, n int) (Set, error) {
	path, err := resolve(spec)
	if err != nil {
		return Set{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Set{}, fmt.Errorf("sharegpt: %w", err)
	}
	defer f.Close()
	s, err := sampleShareGPT(f, spec.Path, n, spec.Output, spec.Seed)
	if err != nil {
		return Set{}, err
	}
	note := fmt.Sprintf("ShareGPT %s, %d conversations sampled from %d", spec.Path, len(s.prompts), s.total)
	if s.unchecked == 0 && s.usable == len(s.prompts) {
		note = fmt.Sprintf("ShareGPT %s, all %d usable of %d conversations", spec.Path, s.usable, s.total)
	}
	note += ", first human turn as prompt, lengths estimated from text"
	if spec.Output.IsZero() {
		note += ", output from the reply's length"
	} else {
		note += ", output " + spec.Output.String()
	}
	return Set{Prompts: s.prompts, Note: note}, nil
}

type shareGPTTurn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

type shareGPTEntry struct {
	Conversations []shareGPTTurn `json:"conversations"`
}

type shareGPTSample struct {
	prompts []workload.Prompt
	// usable counts the conversations that passed the filters among those
	// checked; total counts all; unchecked counts those whose key ruled
	// them out before they were checked.
	usable, total, unchecked int
}

// sampleShareGPT reads a ShareGPT array from rs; name is the file as the
// user wrote it, for errors. rs is read as a stream and sought only to
// find the line of an error.
func sampleShareGPT(rs io.ReadSeeker, name string, n int, out Length, seed int64) (shareGPTSample, error) {
	var s shareGPTSample
	dec := json.NewDecoder(bufio.NewReaderSize(rs, 256<<10))
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return s, fmt.Errorf("%s: empty file; expected a JSON array of conversations", name)
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		return s, shapeError(rs, name, 0, -1, "expected a JSON array of conversations", nil)
	}
	h := make(sampleHeap, 0, min(n, 1<<16))
	for i := 0; dec.More(); i++ {
		before := dec.InputOffset()
		var e shareGPTEntry
		if err := dec.Decode(&e); err != nil {
			return s, shapeError(rs, name, before, i, describe(err), err)
		}
		s.total++
		r := newRNG(seed, streamSample, i)
		key := r.next()
		if len(h) == n && key >= h[0].key {
			// It could not be picked even if usable; estimating its
			// lengths, most of the cost after decoding, is left out.
			s.unchecked++
			continue
		}
		prompt, reply, ok := firstExchange(e.Conversations)
		if !ok {
			continue
		}
		in := EstimateTokens(prompt)
		if in < minSampleTokens || in > maxPromptTokens {
			continue
		}
		o := out.draw(&r, 1)
		if out.IsZero() {
			// vLLM checks the reply's length only when it is the output
			// length, not when --sharegpt-output-len replaces it.
			if o = EstimateTokens(reply); o < minSampleTokens {
				continue
			}
		}
		if in+o > maxSampleTokens {
			continue
		}
		s.usable++
		smp := sample{key: key, prompt: workload.Prompt{Text: prompt, InputTokens: in, OutputTokens: o}}
		switch {
		case len(h) < n:
			heap.Push(&h, smp)
		case key < h[0].key:
			h[0] = smp
			heap.Fix(&h, 0)
		}
	}
	if _, err := dec.Token(); err != nil {
		return s, shapeError(rs, name, dec.InputOffset(), -1, "expected ] at the end of the array", nil)
	}
	if s.usable == 0 {
		return s, fmt.Errorf("%s: none of its %d conversations is usable: each needs a human turn followed by a reply, within vLLM's length limits (prompt and reply of at least %d tokens, prompt of at most %d, both at most %d)",
			name, s.total, minSampleTokens, maxPromptTokens, maxSampleTokens)
	}
	slices.SortFunc(h, func(a, b sample) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	s.prompts = make([]workload.Prompt, len(h))
	for i, smp := range h {
		s.prompts[i] = smp.prompt
	}
	return s, nil
}

// firstExchange returns the first human turn and the reply after it. vLLM
// takes turns 0 and 1 whatever their roles; skipping a leading system
// prompt or greeting from the model keeps a question as the prompt.
func firstExchange(turns []shareGPTTurn) (prompt, reply string, ok bool) {
	for j, t := range turns {
		if !isHuman(t.From) {
			continue
		}
		if j+1 < len(turns) && !isHuman(turns[j+1].From) && !strings.EqualFold(turns[j+1].From, "system") {
			return t.Value, turns[j+1].Value, true
		}
		return "", "", false
	}
	return "", "", false
}

func isHuman(from string) bool {
	return strings.EqualFold(from, "human") || strings.EqualFold(from, "user")
}

// describe turns a decoding error of one conversation into what the
// conversation should look like.
func describe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		switch {
		case te.Field == "":
			return "expected an object with a conversations list"
		case strings.HasPrefix(te.Field, "conversations"):
			return "field conversations: expected a list of {from, value} with string values"
		}
		return "field " + te.Field + ": unexpected " + te.Value
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of file"
	}
	return err.Error()
}

// shapeError names the line of a problem. before is the decoder's offset
// before the conversation (or where the problem is, for elem < 0); elem
// is the conversation's index. json's offsets inside a streamed array
// are not reliable, so the conversation is found again in the file and a
// syntax error in it located by decoding it alone.
func shapeError(rs io.ReadSeeker, name string, before int64, elem int, msg string, cause error) error {
	start, line, err := elementStart(rs, before)
	if err != nil {
		return fmt.Errorf("%s: %s", name, msg) // the file went away; the message still says what is wrong
	}
	var syn *json.SyntaxError
	if errors.As(cause, &syn) {
		if _, err := rs.Seek(start, io.SeekStart); err == nil {
			var raw json.RawMessage
			if err := json.NewDecoder(rs).Decode(&raw); errors.As(err, &syn) && syn.Offset > 0 {
				if extra, err := newlines(rs, start, syn.Offset-1); err == nil {
					line += extra
				}
			}
		}
	}
	if elem >= 0 {
		return fmt.Errorf("%s:%d: conversation %d: %s", name, line, elem, msg)
	}
	return fmt.Errorf("%s:%d: %s", name, line, msg)
}

// elementStart returns the offset and line of the first byte at or after
// offset from that is neither white space nor a comma: where the next
// array element starts.
func elementStart(rs io.ReadSeeker, from int64) (start int64, line int, err error) {
	n, err := newlines(rs, 0, from)
	if err != nil {
		return 0, 0, err
	}
	line = n + 1
	if _, err := rs.Seek(from, io.SeekStart); err != nil {
		return 0, 0, err
	}
	br := bufio.NewReader(rs)
	for start = from; ; start++ {
		c, err := br.ReadByte()
		if err != nil {
			return start, line, nil // at the end: the problem is there
		}
		switch c {
		case '\n':
			line++
		case ' ', '\t', '\r', ',':
		default:
			return start, line, nil
		}
	}
}

// newlines counts the newlines in the length bytes from offset.
func newlines(rs io.ReadSeeker, offset, length int64) (int, error) {
	if _, err := rs.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	count := 0
	for length > 0 {
		k, err := rs.Read(buf[:min(int64(len(buf)), length)])
		count += bytes.Count(buf[:k], []byte{'\n'})
		length -= int64(k)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return count, nil
			}
			return count, err
		}
	}
	return count, nil
}

type sample struct {
	key    uint64
	prompt workload.Prompt
}

// sampleHeap is a max-heap on key: its top is the kept sample that the
// next smaller key replaces.
type sampleHeap []sample

func (h sampleHeap) Len() int           { return len(h) }
func (h sampleHeap) Less(i, j int) bool { return h[i].key > h[j].key }
func (h sampleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)        { *h = append(*h, x.(sample)) }
func (h *sampleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
