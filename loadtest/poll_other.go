//go:build !linux

package loadtest

import (
	"errors"
	"time"
)

// pollSupported: elsewhere every stream is read by a goroutine of its own.
const pollSupported = false

type poller struct{}

func newPoller(*streamRun, []*stream, int, time.Duration) (*poller, error) {
	return nil, errors.New("epoll is Linux-only")
}

func (p *poller) add(int, []byte) error { return errors.New("epoll is Linux-only") }
func (p *poller) close()                {}
