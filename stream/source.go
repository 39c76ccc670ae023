package stream

import (
	"context"
	"time"

	"github.com/tickstock/tickstock/market"
)

// Batch is the input of one emission: the events detected since the previous one, in
// detection order, and the market figures at that moment.
type Batch struct {
	// Seq numbers the emission, and so every SSE id in it. Zero lets the publisher number
	// it, which is right for a single instance. A source that numbers emissions upstream
	// (the feed leader on a bus) sets it, so that every instance gives an emission the same
	// ids and a Last-Event-ID taken on one instance resumes on another. Numbers must
	// increase; a batch whose Seq is not above the last one published is skipped as a repeat.
	Seq    uint64
	Events []market.Event
	// Snapshot gives each settings group its market summary; nil gives an empty summary.
	Snapshot *market.Snapshot
	// At is when the emission was made upstream (the feed leader's clock); zero means now.
	// It is the emitted_at of what the streams send, so every instance sends the same
	// bytes and a client's latency includes the trip over the bus.
	At time.Time
}

// History returns the upstream emissions numbered from `from` on (that one included),
// oldest first, so a stream that resumes with an id issued by another instance can be
// served exactly although this instance was not rendering its settings group.
type History func(ctx context.Context, from uint64) ([]Batch, error)

// Source hands over the next emission's input: everything since the previous call. The
// publisher calls Next once per emit interval. A source fed by an upstream numbering should
// rather hand each upstream emission to Publish as it arrives, so that every instance
// renders the same emissions.
type Source interface {
	Next() Batch
}

// Drainer is a feed runner in this process (market.Runner).
type Drainer interface {
	Drain() market.Batch
}

// Local makes a Source of a runner in this process; the publisher numbers its emissions.
func Local(d Drainer) Source { return localSource{d} }

type localSource struct{ d Drainer }

func (s localSource) Next() Batch {
	b := s.d.Drain()
	return Batch{Events: b.Events, Snapshot: b.Snapshot}
}
