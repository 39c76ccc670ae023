package loadtest

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"
)

// pollSupported: on Linux, plain-HTTP streams are read by two epoll loops instead of a
// goroutine each, so 19,000 streams cost no goroutine stack or read buffer apiece (about
// 12 KiB each) and no goroutine switch per event. The CPU per event is about the same as
// with goroutines (measured at 2,000 streams: 10-15 µs either way, mostly the kernel's
// TCP receive path and wake-ups).
const pollSupported = true

// poller reads many streams' sockets with epoll. Each worker owns an epoll set of its
// own, so a stream is only ever read by one goroutine.
type poller struct {
	run     *streamRun
	batch   time.Duration // Options.ReadBatch
	streams []*stream
	workers []*pollWorker
	wg      sync.WaitGroup
	stop    chan struct{}
}

type pollWorker struct {
	epfd int
}

func newPoller(run *streamRun, streams []*stream, workers int, batch time.Duration) (*poller, error) {
	p := &poller{run: run, streams: streams, batch: batch, stop: make(chan struct{})}
	for range workers {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("epoll_create1: %w", err)
		}
		p.workers = append(p.workers, &pollWorker{epfd: fd})
	}
	for _, w := range p.workers {
		p.wg.Go(func() { p.loop(w) })
	}
	return p, nil
}

// add takes stream i's socket away from the Go runtime (a duplicate descriptor, the
// net.Conn closed) and hands it to a worker. Body bytes that came with the head, left in
// br, are consumed first.
func (p *poller) add(i int, leftover []byte) error {
	s := p.streams[i]
	sc, ok := s.conn.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(f uintptr) { fd, dupErr = syscall.Dup(int(f)) }); err != nil {
		return err
	}
	if dupErr != nil {
		return fmt.Errorf("dup: %w", dupErr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("set non-blocking: %w", err)
	}
	s.conn.Close() // the Go runtime lets go of its descriptor; ours stays open
	s.conn, s.fd = nil, fd
	if len(leftover) > 0 {
		if err := s.consume(leftover); err != nil {
			return err
		}
	}
	s.ready.Store(true) // publishes the fields above to the worker (for the race detector)
	w := p.workers[i%len(p.workers)]
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(fd), Pad: int32(i)}
	if err := syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// epollET is EPOLLET as the uint32 of EpollEvent.Events (the syscall constant is negative).
const epollET = 1 << 31

// loop reads whatever is ready until stop is closed. The epoll set is edge-triggered, which
// spares the kernel a second look at every socket after each event; so a socket is read
// until a read comes back short of the buffer, which for TCP means it is drained for now.
func (p *poller) loop(w *pollWorker) {
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		n, err := syscall.EpollWait(w.epfd, events, 100)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			p.run.lost.add("epoll_wait: " + err.Error())
			return
		}
		for _, ev := range events[:n] {
			s := p.streams[ev.Pad]
			if !s.ready.Load() || s.fd < 0 {
				continue
			}
			p.drain(w, s, buf, ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0)
		}
		if n > 0 && n < len(events) && p.batch > 0 {
			time.Sleep(p.batch) // let the next events gather (Options.ReadBatch)
		}
	}
}

// drain reads what s has. A short read usually means the socket is empty, which saves a
// read per event; but when the peer has also closed (hup), the edge-triggered close is
// reported only once, so it reads on to the end: a server that ends a stream by closing
// the connection (no last chunk) must not be missed.
func (p *poller) drain(w *pollWorker, s *stream, buf []byte, hup bool) {
	for {
		m, err := syscall.Read(s.fd, buf)
		switch {
		case m > 0:
			if err := s.consume(buf[:m]); err != nil {
				p.end(w, s, err)
				return
			}
			if m < len(buf) && !hup {
				return
			}
		case m == 0:
			p.end(w, s, io.EOF)
			return
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return
		default:
			p.end(w, s, err)
			return
		}
	}
}

// end closes a stream that the server ended (or that broke) and counts it when measuring.
func (p *poller) end(w *pollWorker, s *stream, err error) {
	_ = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
	syscall.Close(s.fd)
	s.fd = -1
	if p.run.phase.Load() == phaseMeasuring {
		p.run.lost.add("stream: " + errReason(err))
	}
}

// close stops the workers, then closes every socket they still hold.
func (p *poller) close() {
	close(p.stop)
	p.wg.Wait()
	for _, s := range p.streams {
		if s.fd >= 0 {
			syscall.Close(s.fd)
			s.fd = -1
		}
	}
	for _, w := range p.workers {
		syscall.Close(w.epfd)
	}
}
