package market

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"time"
)

// ReplayHeader is the required first line of a replay file (SPEC section 3).
const ReplayHeader = "time,symbol,price,volume"

const (
	replayMaxLine    = 4096            // longer lines are bad lines
	replayMaxBadLogs = 1000            // per pass; the rest are only counted
	maxUnixMillis    = 253402300799999 // 9999-12-31T23:59:59.999Z
	replayLoopGap    = time.Second
	replayTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// ReplayFeed replays a CSV file of ticks (SPEC section 3) at a chosen pace. Ticks keep the
// file's own times (shifted forward on each loop), so detection gives the same events on
// every replay whatever the speed.
type ReplayFeed struct {
	path  string
	speed float64
	loop  bool
	log   *slog.Logger
}

// NewReplayFeed checks that path is a readable replay file with the right header and returns
// a feed for it. Speed 1 keeps the file's pace, 10 is ten times faster, and 0 is as fast as
// possible. With loop, the file starts again at its end, its times shifted so they keep
// increasing (the next pass starts 1 s after the previous one ended).
func NewReplayFeed(path string, speed float64, loop bool, logger *slog.Logger) (*ReplayFeed, error) {
	if !(speed >= 0) || math.IsInf(speed, 1) {
		return nil, fmt.Errorf("market: new replay feed: speed %v: want a number >= 0", speed)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("market: new replay feed: %w", err)
	}
	defer f.Close()
	if err := readReplayHeader(bufio.NewReader(f)); err != nil {
		return nil, fmt.Errorf("market: new replay feed %s: %w", path, err)
	}
	return &ReplayFeed{path: path, speed: speed, loop: loop, log: logger}, nil
}

func readReplayHeader(r *bufio.Reader) error {
	line, err := r.ReadSlice('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		if errors.Is(err, io.EOF) {
			return errors.New("empty file: want header " + ReplayHeader)
		}
		return fmt.Errorf("read header: %w", err)
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	line = bytes.ToLower(bytes.ReplaceAll(bytes.TrimSpace(line), []byte(" "), nil))
	if string(line) != ReplayHeader {
		return fmt.Errorf("header %q: want %s", line, ReplayHeader)
	}
	return nil
}

// Run replays the file, once or in a loop, until it ends or ctx is done.
func (f *ReplayFeed) Run(ctx context.Context, out chan<- Tick) error {
	intern := make(interner)
	var (
		offset    time.Duration
		paced     bool
		wallStart time.Time
		tickStart time.Time
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	for pass := 1; ; pass++ {
		first, last, n, err := f.pass(ctx, out, intern, offset, func(t time.Time) bool {
			if f.speed == 0 {
				return true
			}
			if !paced {
				paced, wallStart, tickStart = true, time.Now(), t
				return true
			}
			wait := time.Until(wallStart.Add(time.Duration(float64(t.Sub(tickStart)) / f.speed)))
			if wait <= 0 {
				return true
			}
			timer.Reset(wait)
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		f.log.Info("replay: pass done", "file", f.path, "pass", pass, "ticks", n)
		if !f.loop {
			return nil
		}
		if n == 0 {
			return fmt.Errorf("market: replay %s: no valid ticks to loop over", f.path)
		}
		offset += last.Sub(first) + replayLoopGap
	}
}

// pass replays the file once, times shifted by offset. It returns the first and last
// (unshifted) tick times and the number of ticks sent.
func (f *ReplayFeed) pass(ctx context.Context, out chan<- Tick, intern interner,
	offset time.Duration, pace func(time.Time) bool) (first, last time.Time, n int, err error) {
	file, err := os.Open(f.path)
	if err != nil {
		return first, last, 0, fmt.Errorf("market: replay: %w", err)
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 64<<10)
	bad := 0
	for lineNo := 1; ; lineNo++ {
		line, tooLong, rerr := readLine(r)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return first, last, n, fmt.Errorf("market: replay %s line %d: %w", f.path, lineNo, rerr)
		}
		if lineNo == 1 || (len(bytes.TrimSpace(line)) == 0 && !tooLong) {
			if errors.Is(rerr, io.EOF) {
				break
			}
			continue // header, checked at construction; blank lines are not ticks
		}
		var t Tick
		var perr error
		if tooLong {
			perr = fmt.Errorf("line longer than %d bytes", replayMaxLine)
		} else {
			t, perr = parseTickRecord(line, intern)
		}
		if perr == nil && n > 0 && t.Time.Before(last) {
			perr = fmt.Errorf("time %s is before the previous line's %s", t.Time.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
		}
		if perr != nil {
			bad++
			if bad <= replayMaxBadLogs {
				f.log.Warn("replay: bad line skipped", "file", f.path, "line", lineNo, "err", perr)
			}
		} else {
			if n == 0 {
				first = t.Time
			}
			last = t.Time
			n++
			t.Time = t.Time.Add(offset)
			if !pace(t.Time) || !send(ctx, out, t) {
				return first, last, n, nil
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
	}
	if bad > 0 {
		f.log.Warn("replay: bad lines skipped", "file", f.path, "count", bad)
	}
	return first, last, n, nil
}

// readLine reads one line without its newline. A line over replayMaxLine bytes is consumed
// and reported as tooLong.
func readLine(r *bufio.Reader) (line []byte, tooLong bool, err error) {
	line, err = r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > replayMaxLine {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = r.ReadSlice('\n')
		}
		return nil, true, err
	}
	return bytes.TrimRight(line, "\r\n"), false, err
}

// ParseTickRecord parses one replay line, "time,symbol,price,volume": the time as RFC 3339
// or Unix milliseconds, a symbol (upper-cased, see ValidSymbol), a positive finite price and
// a volume >= 0. Fields may be padded with spaces or wrapped in double quotes. It never
// panics, whatever the input; the error says which field is wrong.
func ParseTickRecord(line []byte) (Tick, error) {
	return parseTickRecord(line, nil)
}

// interner hands out one string per distinct symbol, so a replay allocates each symbol
// once and the engine's ID cache sees the same bytes every time.
type interner map[string]string

func (in interner) get(b []byte) string {
	if in == nil {
		return string(b)
	}
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

func parseTickRecord(line []byte, intern interner) (Tick, error) {
	var f [4][]byte
	rest := line
	for i := 0; i < 4; i++ {
		j := bytes.IndexByte(rest, ',')
		if i == 3 {
			if j >= 0 {
				return Tick{}, errors.New("too many fields: want time,symbol,price,volume")
			}
			j = len(rest)
		} else if j < 0 {
			return Tick{}, fmt.Errorf("%d fields: want time,symbol,price,volume", i+1)
		}
		f[i] = field(rest[:j])
		if j < len(rest) {
			rest = rest[j+1:]
		} else {
			rest = nil
		}
	}
	ts, err := parseTickTime(f[0])
	if err != nil {
		return Tick{}, err
	}
	sym := f[1]
	if len(sym) == 0 || len(sym) > MaxSymbolLen {
		return Tick{}, fmt.Errorf("symbol %q: want 1 to %d characters", sym, MaxSymbolLen)
	}
	var up [MaxSymbolLen]byte
	for i, c := range sym {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if !symbolByte(c) {
			return Tick{}, fmt.Errorf("symbol %q: want A-Z, 0-9, '.' or '-'", sym)
		}
		up[i] = c
	}
	price, err := strconv.ParseFloat(string(f[2]), 64)
	if err != nil || !(price > 0) || math.IsInf(price, 1) {
		return Tick{}, fmt.Errorf("price %q: want a positive number", f[2])
	}
	vol, err := strconv.ParseInt(string(f[3]), 10, 64)
	if err != nil || vol < 0 {
		return Tick{}, fmt.Errorf("volume %q: want a whole number >= 0", f[3])
	}
	return Tick{Symbol: intern.get(up[:len(sym)]), Price: price, Volume: vol, Time: ts}, nil
}

// field trims spaces and one pair of surrounding double quotes.
func field(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = bytes.TrimSpace(b[1 : len(b)-1])
	}
	return b
}

func parseTickTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, errors.New("time: empty")
	}
	digits := true
	for _, c := range b {
		if c < '0' || c > '9' {
			digits = false
			break
		}
	}
	if digits {
		ms, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || ms <= 0 || ms > maxUnixMillis {
			return time.Time{}, fmt.Errorf("time %q: Unix milliseconds out of range", b)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 or Unix milliseconds", b)
	}
	if ms := t.UnixMilli(); ms <= 0 || ms > maxUnixMillis {
		return time.Time{}, fmt.Errorf("time %q: before 1970 or too far ahead", b)
	}
	return t.UTC(), nil
}

// AppendTickRecord appends t as a replay line (RFC 3339 in UTC with milliseconds), without a
// newline; ParseTickRecord reads it back.
func AppendTickRecord(dst []byte, t Tick) []byte {
	dst = t.Time.UTC().AppendFormat(dst, replayTimeLayout)
	dst = append(dst, ',')
	dst = append(dst, t.Symbol...)
	dst = append(dst, ',')
	dst = strconv.AppendFloat(dst, t.Price, 'f', -1, 64)
	dst = append(dst, ',')
	return strconv.AppendInt(dst, t.Volume, 10)
}
