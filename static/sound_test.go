package static

import (
	"bytes"
	"encoding/binary"
	"flag"
	"io/fs"
	"math"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite static/sounds/alert.wav from alertWAV")

// alertWAV makes the alert sound: a soft two-note chime (A5 then E6, 0.32 s), mono 8-bit
// PCM at 11025 Hz, under 4 KB. It is generated here rather than downloaded, so its origin
// and licence are this repository's.
func alertWAV() []byte {
	const rate = 11025
	notes := []struct {
		freq, start, dur float64
	}{{880, 0, 0.16}, {1318.5, 0.11, 0.21}}
	n := int(0.32 * rate)
	samples := make([]byte, n)
	for i := range samples {
		t := float64(i) / rate
		v := 0.0
		for _, nt := range notes {
			dt := t - nt.start
			if dt < 0 || dt > nt.dur {
				continue
			}
			env := math.Min(1, dt/0.005) * math.Exp(-dt*14) // 5 ms attack, quick decay
			v += 0.45 * env * (math.Sin(2*math.Pi*nt.freq*dt) + 0.25*math.Sin(4*math.Pi*nt.freq*dt))
		}
		samples[i] = byte(math.Round(128 + 127*math.Max(-1, math.Min(1, v))))
	}
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))   // fmt chunk size
	w(uint16(1))    // PCM
	w(uint16(1))    // mono
	w(uint32(rate)) // sample rate
	w(uint32(rate)) // byte rate
	w(uint16(1))    // block align
	w(uint16(8))    // bits per sample
	b.WriteString("data")
	w(uint32(n))
	b.Write(samples)
	return b.Bytes()
}

// TestAlertSound checks that the committed sound is what alertWAV makes, that it is a
// valid, short WAV of a few KB, and that /static serves it.
func TestAlertSound(t *testing.T) {
	want := alertWAV()
	if *update {
		if err := os.WriteFile("sounds/alert.wav", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fs.ReadFile(FS, "sounds/alert.wav")
	if err != nil {
		t.Fatalf("static FS does not serve sounds/alert.wav: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("sounds/alert.wav is not what alertWAV makes; run go test ./static -run TestAlertSound -update")
	}
	if len(got) > 8<<10 || string(got[:4]) != "RIFF" || string(got[8:16]) != "WAVEfmt " || string(got[36:40]) != "data" {
		t.Fatalf("not a small WAV: %d bytes, header %q", len(got), got[:44])
	}
	if size := binary.LittleEndian.Uint32(got[40:44]); int(size) != len(got)-44 {
		t.Fatalf("data chunk says %d bytes, file has %d", size, len(got)-44)
	}
	// Audible: the samples swing well away from silence (128).
	peak := 0
	for _, s := range got[44:] {
		peak = max(peak, int(math.Abs(float64(int(s)-128))))
	}
	if peak < 60 {
		t.Fatalf("peak amplitude %d of 127: too quiet", peak)
	}
}
