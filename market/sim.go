package market

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Simulator tuning. Rates are per symbol; moves are fractions of the price.
const (
	// SimWarmup is how much made-up history the simulator's Warmup covers: a little more
	// than the 600 s long trend window, so trends can be reported within a minute of start.
	SimWarmup = 660 * time.Second
	// simWarmupEvery is the mean gap, in seconds, between one symbol's warm-up ticks:
	// sparse enough to be quick, dense enough (about 90 per 180 s window) to make every
	// window ready.
	simWarmupEvery = 2.0
	simInterval    = 10 * time.Millisecond // live pacing granularity

	simSecondsPerYear = 252 * 6.5 * 3600 // trading seconds
	simSpellEvery     = 300.0            // mean seconds between trending spells
	simSurgeEvery     = 450.0            // mean seconds between surges
)

// SimFeed is the simulated feed (SPEC section 3): a random walk per symbol with realistic
// per-second volatility (20-60 % a year), trending spells of 2 to 7 minutes that move
// 0.6-2 %, and surges: a move of 1.2 to 2.6 times the surge threshold within 5 to 15
// seconds on 14 to 24 times the usual volume. With about 150 symbols, that gives every
// panel activity within a minute of start, provided Warmup is called first (Runner does).
//
// Ticks are spread uniformly at random over the symbols at the given total rate, and stamped
// with the wall clock. The price path depends only on the seed and the symbol set, never on
// timing: each tick advances its symbol by the nominal time 1/rate per feed tick.
//
// AddSymbols adds symbols while it runs: they start ticking within 10 ms (the total rate
// stays the same, spread over more symbols). Their trend windows fill from then on, as with
// any feed; symbols added before Warmup get warm-up history too.
type SimFeed struct {
	gen  *simGen
	rate int
	seed uint64

	mu      sync.Mutex
	pending []string // added, not yet in gen (gen belongs to the goroutine in Run or Warmup)
}

// AddSymbols makes the simulator tick symbols too; ones it has are ignored. Invalid symbols
// are refused, and none added.
func (f *SimFeed) AddSymbols(symbols []string) error {
	for _, s := range symbols {
		if !ValidSymbol(s) {
			return fmt.Errorf("market: sim: add symbol %q: not a valid symbol", s)
		}
	}
	f.mu.Lock()
	for _, s := range symbols {
		f.pending = append(f.pending, strings.Clone(s))
	}
	f.mu.Unlock()
	return nil
}

// takePending moves added symbols into the generator.
func (f *SimFeed) takePending() {
	f.mu.Lock()
	p := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, s := range p {
		f.gen.add(s)
	}
}

// NewSimFeed returns a simulator over the given symbols (deduplicated) at ratePerSec ticks
// per second in total. A seed of 0 picks a random one (see Seed); any other seed makes the
// price path deterministic.
func NewSimFeed(symbols []string, seed int64, ratePerSec int) (*SimFeed, error) {
	if ratePerSec <= 0 {
		return nil, fmt.Errorf("market: new sim feed: rate %d ticks/s: want > 0", ratePerSec)
	}
	syms := UnionSymbols(symbols)
	if len(syms) == 0 {
		return nil, errors.New("market: new sim feed: no symbols")
	}
	s := uint64(seed)
	if seed == 0 {
		s = rand.Uint64() | 1
	}
	return &SimFeed{gen: newSimGen(syms, s), rate: ratePerSec, seed: s}, nil
}

// Seed returns the seed in use, so a random run can be logged and reproduced.
func (f *SimFeed) Seed() uint64 { return f.seed }

// Warmup makes up SimWarmup of history ending at now, each symbol ticking every 2 s on
// average, and passes it to fn in time order. Call it at most once, before Run; the live
// feed then continues each symbol's path from where the history left it.
func (f *SimFeed) Warmup(now time.Time, fn func(Tick)) {
	f.takePending()
	start := now.Add(-SimWarmup)
	n := int(SimWarmup.Seconds() / simWarmupEvery * float64(len(f.gen.syms)))
	dt := SimWarmup.Seconds() / float64(n)
	base := f.gen.clock
	for k := 0; k < n; k++ {
		t := f.gen.step(dt)
		t.Time = start.Add(time.Duration((f.gen.clock - base) * float64(time.Second)))
		fn(t)
	}
}

// Run emits ticks at the configured rate until ctx is done. If the consumer falls more than
// a second behind, the backlog is skipped rather than burst. A SimFeed runs once at a
// time: Warmup and Run must not overlap.
func (f *SimFeed) Run(ctx context.Context, out chan<- Tick) error {
	tk := time.NewTicker(simInterval)
	defer tk.Stop()
	start := time.Now()
	rate := float64(f.rate)
	dt := 1 / rate
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tk.C:
			f.takePending()
			due := int64(now.Sub(start).Seconds()*rate) - sent
			if due > int64(f.rate) {
				sent += due - int64(f.rate)
				due = int64(f.rate)
			}
			ts := time.Now().Round(0)
			for ; due > 0; due-- {
				t := f.gen.step(dt)
				t.Time = ts
				if !send(ctx, out, t) {
					return nil
				}
				sent++
			}
		}
	}
}

// simSym is one simulated symbol. Rates are per second of nominal time.
type simSym struct {
	name     string
	price    float64 // unrounded; ticks carry it rounded to cents
	sigma    float64 // volatility per sqrt(second)
	baseVol  float64 // shares per second
	last     float64 // nominal time of its previous tick
	drift    float64 // spell drift
	spell    float64 // seconds of spell left
	sDrift   float64 // surge drift
	surge    float64 // seconds of surge left
	sVolMult float64
}

// referencePrices start well-known symbols near familiar price levels (rough late-2025
// levels, for realism only); other symbols start at a random price from $2 to $700.
var referencePrices = map[string]float64{
	"AAPL": 230, "MSFT": 420, "NVDA": 135, "AMZN": 200, "GOOGL": 170, "GOOG": 172, "META": 580,
	"TSLA": 250, "AVGO": 170, "BRK.B": 460, "JPM": 230, "V": 300, "MA": 500, "UNH": 520,
	"XOM": 112, "CVX": 150, "JNJ": 155, "PG": 165, "HD": 390, "LLY": 800, "ABBV": 180,
	"MRK": 100, "PEP": 160, "KO": 63, "COST": 900, "WMT": 85, "BAC": 44, "WFC": 70, "C": 70,
	"GS": 560, "MS": 130, "BLK": 980, "SCHW": 75, "AXP": 280, "ORCL": 170, "CRM": 320,
	"ADBE": 480, "AMD": 140, "INTC": 22, "CSCO": 58, "QCOM": 160, "TXN": 190, "IBM": 220,
	"NFLX": 850, "DIS": 110, "NKE": 75, "MCD": 290, "SBUX": 95, "BA": 160, "CAT": 380,
	"GE": 180, "HON": 210, "UPS": 130, "LMT": 520, "RTX": 120, "DE": 420, "T": 23, "VZ": 43,
	"PFE": 26, "TMO": 520, "ABT": 115, "AMGN": 300, "GILD": 90, "CMCSA": 38, "F": 11,
	"GM": 50, "PLUG": 2.5, "PLTR": 75, "UBER": 75, "PYPL": 80, "SPY": 590, "QQQ": 510,
	"IWM": 225, "DIA": 430, "VOO": 540, "IVV": 595, "VTI": 295, "XLF": 48, "XLE": 92,
	"XLK": 235, "XLV": 145, "GLD": 245, "TLT": 90,
}

// simGen is the simulator's deterministic core: it knows nominal time only, so tests can
// run it at any speed.
type simGen struct {
	rng   *rand.Rand
	syms  []simSym
	known map[string]bool
	clock float64
}

func newSimGen(symbols []string, seed uint64) *simGen {
	g := &simGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), known: map[string]bool{}}
	g.syms = make([]simSym, 0, len(symbols))
	for _, s := range symbols {
		g.add(s)
	}
	return g
}

// add starts simulating symbol s (if it is new) from the current nominal time.
func (g *simGen) add(s string) {
	if g.known[s] {
		return
	}
	g.known[s] = true
	price := math.Exp(g.uniform(math.Log(2), math.Log(700)))
	if ref, ok := referencePrices[s]; ok {
		price = ref * g.uniform(0.97, 1.03) // near where traders expect it, never identical
	}
	g.syms = append(g.syms, simSym{
		name:    s,
		price:   price,
		sigma:   g.uniform(0.20, 0.60) / math.Sqrt(simSecondsPerYear),
		baseVol: math.Exp(g.uniform(math.Log(200), math.Log(5000))),
		last:    g.clock,
	})
}

func (g *simGen) uniform(lo, hi float64) float64 { return lo + (hi-lo)*g.rng.Float64() }

func (g *simGen) sign() float64 {
	if g.rng.IntN(2) == 0 {
		return -1
	}
	return 1
}

// step advances nominal time by dt and returns the next tick (Time unset).
func (g *simGen) step(dt float64) Tick {
	g.clock += dt
	s := &g.syms[g.rng.IntN(len(g.syms))]
	el := g.clock - s.last
	s.last = g.clock

	if s.spell <= 0 && g.rng.Float64() < el/simSpellEvery {
		s.spell = g.uniform(120, 420)
		s.drift = g.sign() * g.uniform(0.006, 0.02) / s.spell
	}
	if s.surge <= 0 && g.rng.Float64() < el/simSurgeEvery {
		// d seconds at m times the volume lift the 30 s volume multiple to
		// (d*m + 30-d)/30 >= 3 when d*(m-1) >= 60: true for every d >= 5, m >= 14.
		s.surge = g.uniform(5, 15)
		s.sDrift = g.sign() * SurgeThreshold(s.price) * g.uniform(1.2, 2.6) / s.surge
		s.sVolMult = g.uniform(14, 24)
	}
	var mu float64
	volMult := 1.0
	if s.spell > 0 {
		mu += s.drift * math.Min(el, s.spell)
		s.spell -= el
	}
	if s.surge > 0 {
		mu += s.sDrift * math.Min(el, s.surge)
		s.surge -= el
		volMult = s.sVolMult
	}
	s.price = math.Max(s.price*math.Exp(mu+s.sigma*math.Sqrt(el)*g.rng.NormFloat64()), 0.01)
	vol := s.baseVol * el * volMult * math.Exp(0.5*g.rng.NormFloat64()-0.125)
	return Tick{Symbol: s.name, Price: roundCents(s.price), Volume: int64(math.Ceil(vol))}
}

// roundCents rounds to whole cents, or to 1/100 cent below $1, as quotes are.
func roundCents(p float64) float64 {
	if p < 1 {
		return math.Round(p*1e4) / 1e4
	}
	return math.Round(p*100) / 100
}
