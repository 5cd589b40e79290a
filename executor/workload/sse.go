package workload

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// maxEventBytes bounds one SSE line and one event's data, so a server that
// never sends a newline cannot make the client buffer without limit.
const maxEventBytes = 8 << 20

var errEventTooLarge = errors.New("event larger than 8 MiB")

// stampReader remembers when each Read from the response body returned.
// bufio fills only from here, and the byte that completes a line always came
// from the latest fill, so this instant is when an event's bytes arrived —
// events delivered by one read share a timestamp, as they do in vLLM.
type stampReader struct {
	r  io.Reader
	at time.Time
	// heard is when bytes last arrived, as time since epoch, for the
	// idle watchdog, which reads it from another goroutine.
	heard atomic.Int64
	// head keeps the first headBytes of the body, to show what a server
	// sent when it was not an event stream.
	head []byte
	// rx, with kernel timing, is the connection whose receive times stamp
	// the reads.
	rx KernelStamped
}

const headBytes = 64

// epoch is the origin of stampReader.heard: a monotonic reading, so that
// no watchdog depends on the wall clock.
var epoch = time.Now()

func (s *stampReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	now := time.Now()
	prev := s.at
	s.at = now
	if s.rx != nil {
		if ns := s.rx.ReceivedNano(); ns > 0 {
			s.at = time.Unix(0, ns)
			// A read was seen stamped 16µs before the read that
			// returned the bytes before it (loopback, a busy machine);
			// bytes arrive in order, so none arrived before an earlier
			// one.
			if s.at.Before(prev) {
				s.at = prev
			}
		}
	}
	if len(s.head) < headBytes {
		s.head = append(s.head, p[:min(n, headBytes-len(s.head))]...)
	}
	if n > 0 {
		// The watchdog runs on the monotonic clock, whatever stamps the
		// events.
		s.heard.Store(int64(now.Sub(epoch)))
	}
	return n, err
}

// watch calls expire once nothing has arrived for idle, counting from now.
// A timer that finds bytes arrived since re-arms for the rest, so a
// stream pays one atomic store per read rather than a timer reset.
func (s *stampReader) watch(idle time.Duration, expire func()) (stop func()) {
	s.heard.Store(int64(time.Since(epoch)))
	var (
		t       *time.Timer
		mu      sync.Mutex
		stopped bool
	)
	t = time.AfterFunc(idle, func() {
		silent := time.Since(epoch) - time.Duration(s.heard.Load())
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stopped:
		case silent >= idle:
			expire()
		default:
			t.Reset(idle - silent)
		}
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// sseReader splits a text/event-stream into the data of its events. It keeps
// its buffers across events and requests, so reading an event allocates
// nothing once they have grown.
type sseReader struct {
	src   stampReader
	br    *bufio.Reader
	long  []byte // a line longer than br's buffer, assembled here
	data  []byte // the current event's data lines, joined by '\n'
	has   bool   // a data field was seen since the last dispatch
	at    time.Time
	first bool // nothing read yet: a leading BOM is dropped
	eof   bool
	// dec, gaps and tokens are for the request using this reader, kept
	// here so that they are pooled with it.
	dec    chunkDecoder
	gaps   []time.Duration
	tokens []uint32
}

func newSSEReader(r io.Reader, size int) *sseReader {
	s := &sseReader{}
	s.br = bufio.NewReaderSize(&s.src, size)
	s.reset(r)
	return s
}

func (s *sseReader) reset(r io.Reader) {
	s.src.r, s.src.at, s.src.head, s.src.rx = r, time.Time{}, s.src.head[:0], nil
	s.br.Reset(&s.src)
	s.long = s.long[:0]
	s.data = s.data[:0]
	s.has = false
	s.at = time.Time{}
	s.first = true
	s.eof = false
	s.dec.reset()
}

// next returns the data of the next event and when its last data line
// arrived. The slice is valid until the following call. At the end of the
// stream it returns io.EOF; an unterminated final event is returned first
// only when it is complete JSON or [DONE], which is what vLLM's parser
// accepts from a trailing buffer. Events whose data is blank are skipped.
func (s *sseReader) next() ([]byte, time.Time, error) {
	for !s.eof {
		line, err := s.line()
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return nil, time.Time{}, err
		}
		if len(line) > 0 {
			s.field(line)
			if !s.eof {
				continue
			}
		}
		// A blank line, or the end of the stream, dispatches.
		if !s.has {
			continue
		}
		s.has = false
		if s.eof && !isDone(s.data) && !json.Valid(s.data) {
			break
		}
		if len(bytes.TrimSpace(s.data)) == 0 {
			continue
		}
		return s.data, s.at, nil
	}
	return nil, time.Time{}, io.EOF
}

// field applies one non-empty line. Only data matters; comments (":…"),
// event, id and retry are ignored.
func (s *sseReader) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	if string(name) != "data" {
		return
	}
	if s.has {
		s.data = append(s.data, '\n')
	} else {
		s.data = s.data[:0]
		s.has = true
	}
	s.data = append(s.data, value...)
	s.at = s.src.at
}

// line returns the next line without its terminator ("\n" or "\r\n"). At
// the end of the stream it returns the unterminated rest, possibly empty,
// with io.EOF.
func (s *sseReader) line() ([]byte, error) {
	l, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], l...)
		for err == bufio.ErrBufferFull {
			l, err = s.br.ReadSlice('\n')
			if len(s.long)+len(l) > maxEventBytes {
				return nil, errEventTooLarge
			}
			s.long = append(s.long, l...)
		}
		l = s.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if s.first && len(l) > 0 {
		s.first = false
		l = bytes.TrimPrefix(l, []byte("\xef\xbb\xbf"))
	}
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if len(s.data)+len(l) > maxEventBytes {
		return nil, errEventTooLarge
	}
	return l, err
}

func isDone(data []byte) bool {
	return string(bytes.TrimSpace(data)) == "[DONE]"
}

// chunk is what one event tells the request: whether it has choices, what
// its first choice's delta carries, the usage it carries and any error the
// server reported in-stream.
type chunk struct {
	// choices: the event has a non-empty choices array.
	choices bool
	// silent: the first choice's delta carries nothing, every member null
	// or none at all, as a closing chunk with only its finish_reason.
	silent bool
	// roleOnly: the first choice's delta carries a role and nothing else
	// but empty values, as a chat stream's opening chunk: with an empty
	// content (vLLM, SGLang), a null one (llama.cpp) or none
	// (llm-d-inference-sim).
	roleOnly bool
	// reasoningBytes and answerBytes size what the first choice's delta
	// carries of each kind, in bytes of JSON: its reasoning text (the
	// longer of reasoning and reasoning_content, which vLLM 0.11.1 to 0.15
	// send together with the same text) and its other members but role
	// (content, tool_calls). Null and empty members count as nothing; a
	// completions choice has no delta.
	reasoningBytes   int
	answerBytes      int
	hasUsage         bool
	promptTokens     int
	completionTokens int
	// reasoningTokens is how many of completionTokens the usage says were
	// reasoning: completion_tokens_details.reasoning_tokens (OpenAI,
	// vLLM), else SGLang's usage.reasoning_tokens; 0 when neither says.
	reasoningTokens int
	hasErr          bool
	errMsg          string
}

// isReasoningField reports whether a delta member carries reasoning text.
func isReasoningField(key []byte) bool {
	return string(key) == "reasoning" || string(key) == "reasoning_content"
}

// decodeChunk reads the few fields a request needs from one event. A
// validating scanner handles the shapes servers actually send without
// allocating; anything it is unsure of (escaped or non-ASCII keys, keys
// matching only case-insensitively, duplicates, an error object, odd number
// forms) goes to encoding/json, whose result is the definition.
func decodeChunk(b []byte, c *chunk) error {
	*c = chunk{}
	if fastDecode(b, c) {
		return nil
	}
	*c = chunk{}
	return slowDecode(b, c)
}

type slowChunk struct {
	Choices []json.RawMessage `json:"choices"`
	Usage   *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		// The reasoning counts are read leniently: a server's odd value
		// there costs the split of its tokens, not the request.
		ReasoningTokens json.RawMessage `json:"reasoning_tokens"`
		Details         json.RawMessage `json:"completion_tokens_details"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func slowDecode(b []byte, c *chunk) error {
	var v slowChunk
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c.choices = len(v.Choices) > 0
	if c.choices {
		slowDelta(v.Choices[0], c)
	}
	if u := v.Usage; u != nil {
		c.hasUsage = true
		c.promptTokens = u.PromptTokens
		c.completionTokens = u.CompletionTokens
		var details struct {
			ReasoningTokens json.RawMessage `json:"reasoning_tokens"`
		}
		_ = json.Unmarshal(u.Details, &details)
		c.reasoningTokens = cmp.Or(lenientInt(details.ReasoningTokens), lenientInt(u.ReasoningTokens))
	}
	if len(v.Error) > 0 && string(v.Error) != "null" {
		c.hasErr = true
		c.errMsg = errorText(v.Error)
	}
	return nil
}

// lenientInt reads an integer, or 0 for anything else.
func lenientInt(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) != nil {
		return 0
	}
	return n
}

// slowDelta reads what the delta of a choice carries. A choice that is not
// an object, or whose delta is not one, carries something, as far as
// anyone can tell.
func slowDelta(choice []byte, c *chunk) {
	var ch struct {
		Delta json.RawMessage `json:"delta"`
	}
	if json.Unmarshal(choice, &ch) != nil {
		return
	}
	d := bytes.TrimSpace(ch.Delta)
	if len(d) == 0 || d[0] != '{' {
		return
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(d, &members) != nil {
		return
	}
	present, role, payload := false, false, false
	for k, raw := range members {
		kind := valueKind(raw)
		present = present || kind != absent
		switch {
		case k == "role":
			role = kind != absent
		case kind != filled:
		case isReasoningField([]byte(k)):
			payload = true
			c.reasoningBytes = max(c.reasoningBytes, len(bytes.TrimSpace(raw)))
		default:
			payload = true
			c.answerBytes += len(bytes.TrimSpace(raw))
		}
	}
	c.silent, c.roleOnly = !present, role && !payload
}

// What a member of a delta holds.
const (
	absent = iota // null
	empty         // "", [] or {}
	filled
)

func valueKind(raw json.RawMessage) int {
	v := bytes.TrimSpace(raw)
	switch {
	case string(v) == "null":
		return absent
	case string(v) == `""`:
		return empty
	case v[0] == '[':
		var a []json.RawMessage
		if json.Unmarshal(v, &a) == nil && len(a) == 0 {
			return empty
		}
	case v[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) == nil && len(m) == 0 {
			return empty
		}
	}
	return filled
}

// errorText extracts a readable message from an OpenAI-style error value:
// {"message": …}, a bare string, or else the raw JSON cut to 200 bytes.
func errorText(raw []byte) string {
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	return truncate(string(raw), 200)
}

// fastDecode reports false whenever encoding/json must decide, including for
// every invalid document; when it reports true the document is valid JSON and
// c holds what encoding/json would have produced. It is written as functions
// over (b, i) so the per-byte loops stay in registers.
func fastDecode(b []byte, c *chunk) bool {
	ok, _ := scanTop(b, 0, c)
	return ok
}

// scanTop is fastDecode from b[start]: the beginning of the document when
// start is 0, else the start of a member of the top-level object before
// which neither choices, usage nor error appeared. It also returns where
// the first of those three members began, -1 if none did: the scanner's
// state there (a member boundary, none of them seen, c untouched) depends on
// nothing before it.
func scanTop(b []byte, start int, c *chunk) (ok bool, resume int) {
	resume = -1
	i := start
	if start == 0 {
		i = skipWS(b, 0)
		if i >= len(b) || b[i] != '{' {
			return false, -1
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return skipWS(b, i+1) == len(b), -1
		}
	}
	seen := 0
	for {
		at := i
		key, end := scanKey(b, i)
		if end < 0 {
			return false, -1
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return false, -1
		}
		i = skipWS(b, i+1)
		bit := 0
		switch string(key) {
		case "choices":
			bit, i = 1, scanChoices(b, i, c)
		case "usage":
			bit, i = 2, scanUsage(b, i, c)
		case "error":
			// Only a null error stays on the fast path.
			bit, i = 4, scanLiteral(b, i, "null")
		default:
			if mayFold(key, "choices", "usage", "error") {
				return false, -1
			}
			i = skipValue(b, i, 1)
		}
		if i < 0 || seen&bit != 0 {
			return false, -1
		}
		if seen == 0 && bit != 0 {
			resume = at
		}
		seen |= bit
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return skipWS(b, i+1) == len(b), resume
		}
		return false, -1
	}
}

// maxPrefix bounds the bytes a chunkDecoder remembers.
const maxPrefix = 4 << 10

// chunkDecoder decodes the events of one stream. Servers repeat the same
// id, object, created and model members, ahead of choices and usage, in
// every event of a stream, so once an event has been scanned, a later one
// whose bytes up to its first choices, usage or error member are the same
// is scanned from there only (see scanTop): a byte comparison instead of
// half the validation, for the same result.
type chunkDecoder struct {
	prefix []byte // the last event scanned from its start, up to that member; empty when unknown
}

func (d *chunkDecoder) reset() { d.prefix = d.prefix[:0] }

// decode is decodeChunk for the next event of the stream.
func (d *chunkDecoder) decode(b []byte, c *chunk) error {
	*c = chunk{}
	if n := len(d.prefix); n > 0 && len(b) > n && string(b[:n]) == string(d.prefix) {
		if ok, _ := scanTop(b, n, c); ok {
			return nil
		}
	} else {
		ok, resume := scanTop(b, 0, c)
		d.prefix = d.prefix[:0]
		if ok && resume > 0 && resume <= maxPrefix {
			d.prefix = append(d.prefix, b[:resume]...)
		}
		if ok {
			return nil
		}
	}
	*c = chunk{}
	return slowDecode(b, c)
}

// maxDepth keeps the fast path's recursion shallow; deeper documents are
// left to encoding/json.
const maxDepth = 64

var (
	jsonSpace [256]bool
	// plainByte marks bytes that may stand unescaped in a string and need
	// no further look: not '"', not '\\', not a control character.
	plainByte [256]bool
)

func init() {
	for _, c := range " \t\n\r" {
		jsonSpace[c] = true
	}
	for c := 0x20; c < 256; c++ {
		plainByte[c] = c != '"' && c != '\\'
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && jsonSpace[b[i]] {
		i++
	}
	return i
}

// mayFold reports whether encoding/json could match key to one of names
// although it is none of them exactly: its matching ignores ASCII case and
// folds a few non-ASCII letters (the Kelvin sign, the long s).
func mayFold(key []byte, names ...string) bool {
	for _, ch := range key {
		if ch >= 0x80 {
			return true
		}
	}
	for _, n := range names {
		if len(key) != len(n) {
			continue
		}
		same := true
		for j := range len(n) {
			if key[j]|0x20 != n[j]|0x20 {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// scanString scans the string starting at b[i] and returns the index past
// it, -1 if it is invalid, and whether it held an escape.
func scanString(b []byte, i int) (end int, escaped bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	i++
	for {
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return -1, false
		}
		switch b[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			if i = scanEscape(b, i); i < 0 {
				return -1, false
			}
		default: // a control character
			return -1, false
		}
	}
}

// scanKey scans an object key; a key with an escape is reported invalid so
// that encoding/json, which unescapes before matching, decides.
func scanKey(b []byte, i int) (key []byte, end int) {
	end, escaped := scanString(b, i)
	if end < 0 || escaped {
		return nil, -1
	}
	return b[i+1 : end-1], end
}

func scanEscape(b []byte, i int) int {
	i++ // the backslash
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 1
	case 'u':
		if len(b)-i < 5 {
			return -1
		}
		for _, h := range b[i+1 : i+5] {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return -1
			}
		}
		return i + 5
	}
	return -1
}

func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// scanNumber scans a number and reports whether it is a plain integer (no
// fraction or exponent).
func scanNumber(b []byte, i int) (end int, integer bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1, false
		}
		i = j
	}
	return i, integer
}

// scanInt scans an integer small enough to need no overflow check; other
// numbers, and null, are left to encoding/json.
func scanInt(b []byte, i int) (end, n int) {
	end, integer := scanNumber(b, i)
	if end < 0 || !integer {
		return -1, 0
	}
	d := b[i:end]
	neg := d[0] == '-'
	if neg {
		d = d[1:]
	}
	if len(d) > 15 {
		return -1, 0
	}
	for _, ch := range d {
		n = n*10 + int(ch-'0')
	}
	if neg {
		n = -n
	}
	return end, n
}

// skipValue scans any value at nesting depth.
func skipValue(b []byte, i, depth int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := scanString(b, i)
		return end
	case c == '{':
		if depth >= maxDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1
		}
		for {
			if i, _ = scanString(b, i); i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return -1
			}
			if i = skipValue(b, skipWS(b, i+1), depth+1); i < 0 {
				return -1
			}
			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				return i + 1
			}
			return -1
		}
	case c == '[':
		if depth >= maxDepth {
			return -1
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		return skipElements(b, i, depth+1)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		end, _ := scanNumber(b, i)
		return end
	}
	return -1
}

// skipElements scans the elements of a non-empty array from its first one
// through the closing bracket.
func skipElements(b []byte, i, depth int) int {
	for {
		if i = skipValue(b, i, depth); i < 0 {
			return -1
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return i + 1
		}
		return -1
	}
}

func scanChoices(b []byte, i int, c *chunk) int {
	if end := scanLiteral(b, i, "null"); end >= 0 {
		return end
	}
	if i >= len(b) || b[i] != '[' {
		return -1
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	c.choices = true
	if i >= len(b) || b[i] != '{' {
		return skipElements(b, i, 2)
	}
	if i = scanChoice(b, i, c); i < 0 {
		return -1
	}
	i = skipWS(b, i)
	switch {
	case i < len(b) && b[i] == ']':
		return i + 1
	case i < len(b) && b[i] == ',':
		return skipElements(b, skipWS(b, i+1), 2)
	}
	return -1
}

// scanChoice scans the first choice, an object, for its delta.
func scanChoice(b []byte, i int, c *chunk) int {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	seenDelta := false
	for {
		key, end := scanKey(b, i)
		if end < 0 {
			return -1
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipWS(b, i+1)
		switch {
		case string(key) == "delta":
			if seenDelta {
				return -1
			}
			seenDelta = true
			if end := scanLiteral(b, i, "null"); end >= 0 {
				i = end
			} else if i < len(b) && b[i] == '{' {
				i = scanDelta(b, i, c)
			} else {
				return -1
			}
		case mayFold(key, "delta"):
			return -1
		default:
			i = skipValue(b, i, 3)
		}
		if i < 0 {
			return -1
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1
		}
		return -1
	}
}

// maxDeltaMembers bounds the members a delta may have on the fast path,
// which checks them for duplicates pairwise.
const maxDeltaMembers = 8

// scanDelta scans a delta object and records what it carries; a repeated
// member is left to encoding/json, whose last one wins.
func scanDelta(b []byte, i int, c *chunk) int {
	i = skipWS(b, i+1)
	present, role, payload := false, false, false
	var keys [maxDeltaMembers][]byte
	n := 0
	if i < len(b) && b[i] == '}' {
		c.silent = true
		return i + 1
	}
	reasoning, answer := 0, 0
	for {
		key, end := scanKey(b, i)
		if end < 0 || n == maxDeltaMembers {
			return -1
		}
		for _, k := range keys[:n] {
			if string(k) == string(key) {
				return -1
			}
		}
		keys[n] = key
		n++
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		start := skipWS(b, i+1)
		var kind int
		if i, kind = scanKind(b, start); i < 0 {
			return -1
		}
		present = present || kind != absent
		switch {
		case string(key) == "role":
			role = kind != absent
		case kind != filled:
		case isReasoningField(key):
			payload = true
			reasoning = max(reasoning, i-start)
		default:
			payload = true
			answer += i - start
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			c.silent, c.roleOnly = !present, role && !payload
			c.reasoningBytes, c.answerBytes = reasoning, answer
			return i + 1
		}
		return -1
	}
}

// scanKind scans a value and says whether it is null, empty ("", [] or
// {}) or filled.
func scanKind(b []byte, i int) (int, int) {
	if i >= len(b) {
		return -1, 0
	}
	switch b[i] {
	case 'n':
		return scanLiteral(b, i, "null"), absent
	case '"':
		end, _ := scanString(b, i)
		if end == i+2 {
			return end, empty
		}
		return end, filled
	case '[', '{':
		if j := skipWS(b, i+1); j < len(b) && (b[i] == '[' && b[j] == ']' || b[i] == '{' && b[j] == '}') {
			return j + 1, empty
		}
	}
	return skipValue(b, i, 4), filled
}

func scanUsage(b []byte, i int, c *chunk) int {
	if end := scanLiteral(b, i, "null"); end >= 0 {
		return end
	}
	if i >= len(b) || b[i] != '{' {
		return -1
	}
	c.hasUsage = true
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	seen := 0
	details, top := 0, 0
	for {
		key, end := scanKey(b, i)
		if end < 0 {
			return -1
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		i = skipWS(b, i+1)
		bit := 0
		switch string(key) {
		case "prompt_tokens":
			bit = 1
			i, c.promptTokens = scanInt(b, i)
		case "completion_tokens":
			bit = 2
			i, c.completionTokens = scanInt(b, i)
		case "reasoning_tokens":
			bit = 4
			i, top = scanInt(b, i)
		case "completion_tokens_details":
			bit = 8
			i, details = scanDetails(b, i)
		default:
			if mayFold(key, "prompt_tokens", "completion_tokens", "reasoning_tokens", "completion_tokens_details") {
				return -1
			}
			i = skipValue(b, i, 2)
		}
		if i < 0 || seen&bit != 0 {
			return -1
		}
		seen |= bit
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			c.reasoningTokens = cmp.Or(details, top)
			return i + 1
		}
		return -1
	}
}

// scanDetails scans usage.completion_tokens_details, null or an object,
// for its reasoning_tokens.
func scanDetails(b []byte, i int) (end, reasoning int) {
	if end := scanLiteral(b, i, "null"); end >= 0 {
		return end, 0
	}
	if i >= len(b) || b[i] != '{' {
		return -1, 0
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, 0
	}
	seen := false
	for {
		key, end := scanKey(b, i)
		if end < 0 {
			return -1, 0
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return -1, 0
		}
		i = skipWS(b, i+1)
		switch {
		case string(key) == "reasoning_tokens":
			if seen {
				return -1, 0
			}
			seen = true
			i, reasoning = scanInt(b, i)
		case mayFold(key, "reasoning_tokens"):
			return -1, 0
		default:
			i = skipValue(b, i, 3)
		}
		if i < 0 {
			return -1, 0
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return i + 1, reasoning
		}
		return -1, 0
	}
}
