package market

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// benchTicks makes a loopable block of realistic ticks: n symbols priced $1-$1000 (log-
// uniform), each ticking in about 80 % of the seconds of a block of secs seconds (like
// Polygon's per-second aggregates), in random order within each second. Each symbol's walk
// is a Brownian bridge, so the block ends where it began and can be replayed shifted in
// time without a jump. It returns the ticks and the block's length.
func benchTicks(n, secs int, seed uint64) ([]Tick, time.Duration) {
	rng := rand.New(rand.NewPCG(seed, 1))
	type sym struct {
		name  string
		path  []float64
		vol   float64
		sigma float64
	}
	syms := make([]sym, n)
	for i := range syms {
		s := &syms[i]
		s.name = fmt.Sprintf("S%05d", i)
		base := math.Exp(rng.Float64() * math.Log(1000))
		s.sigma = (0.2 + 0.6*rng.Float64()) / math.Sqrt(simSecondsPerYear)
		s.vol = math.Exp(math.Log(100) + rng.Float64()*math.Log(50))
		walk := make([]float64, secs+1)
		for k := 1; k <= secs; k++ {
			walk[k] = walk[k-1] + s.sigma*rng.NormFloat64()
		}
		s.path = make([]float64, secs)
		for k := range s.path {
			bridge := walk[k] - walk[secs]*float64(k)/float64(secs)
			s.path[k] = math.Round(base*math.Exp(bridge)*100) / 100
			if s.path[k] < 0.01 {
				s.path[k] = 0.01
			}
		}
	}
	start := time.Date(2025, 3, 12, 13, 30, 0, 0, time.UTC) // 09:30 New York
	var ticks []Tick
	order := make([]int, n)
	for k := 0; k < secs; k++ {
		for i := range order {
			order[i] = i
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			if rng.Float64() >= 0.8 {
				continue
			}
			s := &syms[i]
			ms := int64(k)*1000 + int64(rng.IntN(1000))
			ticks = append(ticks, Tick{
				Symbol: s.name,
				Price:  s.path[k],
				Volume: int64(s.vol*math.Exp(0.7*rng.NormFloat64())) + 1,
				Time:   start.Add(time.Duration(ms) * time.Millisecond),
			})
		}
	}
	// Within a second, a symbol has one tick, so per-symbol order holds.
	return ticks, time.Duration(secs) * time.Second
}

// BenchmarkEngine measures detection throughput over 10,000 symbols in the steady state:
// the engine is warmed up with 12 minutes of ticks first, so every ring is at its working
// size and every window is ready. One op is one tick. "batch" feeds ticks in groups of 512
// through ProcessBatch, as Runner does; "single" calls Process per tick.
func BenchmarkEngine(b *testing.B) {
	const symbols = 10_000
	block, span := benchTicks(symbols, 120, 7)
	names := make([]string, symbols)
	for i := range names {
		names[i] = fmt.Sprintf("S%05d", i)
	}
	for _, mode := range []string{"batch", "single"} {
		b.Run(mode, func(b *testing.B) {
			// Ticks carry the engine's own symbol strings, as the feeds' interning ensures.
			e := NewEngine(names)
			for i := range block {
				id, _ := e.Lookup(block[i].Symbol)
				block[i].Symbol = e.cold[id].name
			}
			const batch = 512
			out := make([]Event, 0, 256)
			i, events := 0, 0
			// next processes n ticks of the looping block; at the end of each pass the
			// block is shifted forward in time, off the clock.
			next := func(n int) {
				for n > 0 {
					k := min(n, batch, len(block)-i)
					if mode == "batch" {
						out = e.ProcessBatch(block[i:i+k], out[:0])
						events += len(out)
					} else {
						for _, t := range block[i : i+k] {
							out = e.Process(t, out[:0])
							events += len(out)
						}
					}
					n -= k
					if i += k; i == len(block) {
						b.StopTimer()
						for j := range block {
							block[j].Time = block[j].Time.Add(span)
						}
						i = 0
						b.StartTimer()
					}
				}
			}
			next(len(block) * int(12*time.Minute/span))
			events = 0
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			c0 := threadCPU()
			next(b.N)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/(threadCPU()-c0).Seconds(), "ticks/cpu_s")
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/sec, "ticks/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/tick")
			b.ReportMetric(float64(events)/float64(b.N)*1000, "events/1k_ticks")
		})
	}
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burstTicks is one second of a market at its peak: every one of n symbols ticks perSec
// times, evenly spaced with jitter, interleaved across symbols in time order. Each
// symbol's prices follow a Brownian bridge over the second, so the block loops (shifted
// by a second) without a jump.
func burstTicks(names []string, perSec int, seed uint64) []Tick {
	n := len(names)
	rng := rand.New(rand.NewPCG(seed, 2))
	start := time.Date(2025, 3, 12, 14, 0, 0, 0, time.UTC)
	paths := make([][]float64, n)
	for i := range paths {
		base := math.Exp(rng.Float64() * math.Log(1000))
		walk := make([]float64, perSec+1)
		for k := 1; k <= perSec; k++ {
			walk[k] = walk[k-1] + 0.0004*rng.NormFloat64()
		}
		paths[i] = make([]float64, perSec)
		for k := range paths[i] {
			paths[i][k] = math.Max(0.01, math.Round(base*math.Exp(walk[k]-walk[perSec]*float64(k)/float64(perSec))*100)/100)
		}
	}
	ticks := make([]Tick, 0, n*perSec)
	step := 1000 / perSec
	for k := 0; k < perSec; k++ {
		for i := 0; i < n; i++ {
			ticks = append(ticks, Tick{
				Symbol: names[i],
				Price:  paths[i][k],
				Volume: 1 + rng.Int64N(500),
				Time:   start.Add(time.Duration(k*step) * time.Millisecond),
			})
		}
	}
	return ticks
}

// BenchmarkEngineBurst is a real market's peak, 1,000,000 ticks a second over 10,000
// symbols (100 ticks a second each), for issue 16's bursts: it reports the engine's speed
// on that load and, after 90 s of tick time (rings full and coarsening, past the 41 s a
// 4,096-entry ring takes to fill at this rate), the engine's heap per symbol. One op is
// one tick.
func BenchmarkEngineBurst(b *testing.B) {
	const symbols, perSec = 10_000, 100
	names := make([]string, symbols)
	for i := range names {
		names[i] = fmt.Sprintf("S%05d", i)
	}
	block := burstTicks(names, perSec, 11) // ticks carry the engine's own symbol strings
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	e := NewEngine(names)
	out := make([]Event, 0, 4096)
	i := 0
	next := func(n int) {
		for n > 0 {
			k := min(n, 512, len(block)-i)
			out = e.ProcessBatch(block[i:i+k], out[:0])
			n -= k
			if i += k; i == len(block) {
				b.StopTimer()
				for j := range block {
					block[j].Time = block[j].Time.Add(time.Second)
				}
				i = 0
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	next(len(block) * 90)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	engineHeap := float64(m1.HeapAlloc) - float64(m0.HeapAlloc) - float64(cap(out))*float64(reflect.TypeFor[Event]().Size())
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	b.StartTimer()
	c0 := threadCPU()
	next(b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/(threadCPU()-c0).Seconds(), "ticks/cpu_s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
	// After the timed loop: ResetTimer deletes metrics reported before it.
	b.ReportMetric(engineHeap/symbols, "heap_B/symbol")
	b.ReportMetric(engineHeap/(1<<20), "heap_MiB")
}
