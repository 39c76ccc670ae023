package stream

import (
	"runtime"
	"sync"
)

// dispatch hands one emission's deliveries to writer goroutines as the groups are
// rendered, so sockets are written while the next groups render, and never under the
// publisher's lock. Each connection is in one group, so it gets one delivery per
// emission, from one writer; and the publisher waits for the writers before the next
// emission, so a connection's messages keep their order.
type dispatch struct {
	p       *Publisher
	batch   []send
	ch      chan []send
	wg      sync.WaitGroup
	started bool
}

type send struct {
	c *Conn
	m *Message
}

// dispatchChunk is how many deliveries go to a writer at once: enough to make the hand-
// over cheap, few enough that both writers start early.
const dispatchChunk = 128

func (p *Publisher) dispatch() *dispatch {
	return &dispatch{p: p}
}

// add queues one delivery, handing a full chunk to the writers.
func (d *dispatch) add(c *Conn, m *Message) {
	d.batch = append(d.batch, send{c, m})
	if len(d.batch) >= dispatchChunk {
		d.flush(true)
	}
}

// flush hands the queued deliveries to the writers: all of them when force is set, or
// else only a chunk worth waking a writer for.
func (d *dispatch) flush(force bool) {
	if len(d.batch) == 0 || (!force && len(d.batch) < dispatchChunk/4) {
		return
	}
	if !d.started {
		d.started = true
		d.ch = make(chan []send, 256)
		for range runtime.GOMAXPROCS(0) {
			d.wg.Go(d.work)
		}
	}
	d.ch <- d.batch
	d.batch = make([]send, 0, dispatchChunk)
}

// finish hands over the rest; no delivery may be added after it.
func (d *dispatch) finish() {
	d.flush(true)
	if d.started {
		close(d.ch)
	}
}

// wait returns when every delivery has been written or queued.
func (d *dispatch) wait() { d.wg.Wait() }

func (d *dispatch) work() {
	scratch := make([]byte, 0, 8<<10)
	for chunk := range d.ch {
		for _, s := range chunk {
			d.p.deliver(s.c, s.m, &scratch)
		}
	}
}
