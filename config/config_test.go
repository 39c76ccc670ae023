package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no environment: %v", err)
	}
	if c.Addr != "localhost:8080" || c.Feed != FeedSim || c.SimRate != 2000 || c.EmitInterval != time.Second ||
		!c.CookieSecure || c.RateLimit != 100 || !c.SignupOpen || c.LogJSON || c.DataDir != ".tickstock" ||
		c.ReplaySpeed != 1 || c.SimSeedSet || c.PolygonURL != DefaultPolygonURL || c.RedisPrefix != "tickstock:" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoadValid(t *testing.T) {
	c, err := Load(env(map[string]string{
		"TICKSTOCK_ADDR": "127.0.0.1:0", "TICKSTOCK_FEED": "replay", "TICKSTOCK_REPLAY_FILE": "x.csv",
		"TICKSTOCK_REPLAY_SPEED": "0", "TICKSTOCK_SIM_SEED": "-42", "TICKSTOCK_EMIT_INTERVAL": "250ms",
		"TICKSTOCK_COOKIE_SECURE": "false", "TICKSTOCK_SIGNUP": "closed", "TICKSTOCK_LOG_FORMAT": "json",
		"REDIS_URL": "redis://127.0.0.1:6379/3", "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db",
		"TICKSTOCK_REDIS_PREFIX": "staging:tickstock:",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Feed != FeedReplay || c.ReplaySpeed != 0 || c.SimSeed != -42 || !c.SimSeedSet ||
		c.EmitInterval != 250*time.Millisecond || c.CookieSecure || c.SignupOpen || !c.LogJSON ||
		c.RedisPrefix != "staging:tickstock:" {
		t.Fatalf("values not applied: %+v", c)
	}
}

func TestLoadTrustedProxies(t *testing.T) {
	c, err := Load(env(map[string]string{"TICKSTOCK_TRUSTED_PROXIES": " 10.1.2.3/8, 192.168.0.7 ,fd00::/8,::ffff:172.16.0.0/108"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []string{"10.0.0.0/8", "192.168.0.7/32", "fd00::/8", "172.16.0.0/12"}
	if len(c.TrustedProxies) != len(want) {
		t.Fatalf("TrustedProxies = %v, want %v", c.TrustedProxies, want)
	}
	for i, p := range c.TrustedProxies {
		if p.String() != want[i] {
			t.Errorf("TrustedProxies[%d] = %s, want %s", i, p, want[i])
		}
	}
	if c, _ := Load(env(nil)); len(c.TrustedProxies) != 0 {
		t.Fatalf("trusted proxies by default: %v", c.TrustedProxies)
	}
}

func TestLoadUnsignedSeed(t *testing.T) {
	c, err := Load(env(map[string]string{"TICKSTOCK_SIM_SEED": "18446744073709551615"}))
	if err != nil || !c.SimSeedSet || uint64(c.SimSeed) != 18446744073709551615 {
		t.Fatalf("a logged unsigned seed does not load back: %v %+v", err, c)
	}
}

func TestLoadBadValues(t *testing.T) {
	tests := []struct {
		name, variable, value string
		extra                 map[string]string
	}{
		{"addr without port", "TICKSTOCK_ADDR", "localhost", nil},
		{"addr bad port", "TICKSTOCK_ADDR", "localhost:99999", nil},
		{"unknown feed", "TICKSTOCK_FEED", "nasdaq", nil},
		{"seed not a number", "TICKSTOCK_SIM_SEED", "abc", nil},
		{"rate zero", "TICKSTOCK_SIM_RATE", "0", nil},
		{"rate text", "TICKSTOCK_SIM_RATE", "fast", nil},
		{"replay file missing", "TICKSTOCK_REPLAY_FILE", "", map[string]string{"TICKSTOCK_FEED": "replay"}},
		{"replay speed negative", "TICKSTOCK_REPLAY_SPEED", "-1", nil},
		{"replay speed NaN", "TICKSTOCK_REPLAY_SPEED", "NaN", nil},
		{"replay loop", "TICKSTOCK_REPLAY_LOOP", "sometimes", nil},
		{"polygon key missing", "POLYGON_API_KEY", "", map[string]string{"TICKSTOCK_FEED": "polygon"}},
		{"polygon url scheme", "TICKSTOCK_POLYGON_URL", "http://x", map[string]string{"TICKSTOCK_FEED": "polygon", "POLYGON_API_KEY": "k"}},
		{"emit interval", "TICKSTOCK_EMIT_INTERVAL", "soon", nil},
		{"emit interval too small", "TICKSTOCK_EMIT_INTERVAL", "1ns", nil},
		{"cookie secure", "TICKSTOCK_COOKIE_SECURE", "maybe", nil},
		{"rate limit", "TICKSTOCK_RATE_LIMIT", "-5", nil},
		{"signup", "TICKSTOCK_SIGNUP", "invite", nil},
		{"metrics addr", "TICKSTOCK_METRICS_ADDR", "nope", nil},
		{"log format", "TICKSTOCK_LOG_FORMAT", "xml", nil},
		{"database url", "DATABASE_URL", "postgres://u:secret@host:notaport/db", nil},
		{"redis url", "REDIS_URL", "http://u:secret@127.0.0.1:6379", nil},
		{"trusted proxies bits", "TICKSTOCK_TRUSTED_PROXIES", "10.0.0.0/33", nil},
		{"redis prefix glob", "TICKSTOCK_REDIS_PREFIX", "a*:", nil},
		{"redis prefix long", "TICKSTOCK_REDIS_PREFIX", strings.Repeat("x", 65), nil},
		{"trusted proxies host name", "TICKSTOCK_TRUSTED_PROXIES", "10.0.0.1, proxy.local", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{tt.variable: tt.value}
			for k, v := range tt.extra {
				kv[k] = v
			}
			_, err := Load(env(kv))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tt.variable, tt.value)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Var != tt.variable {
				t.Fatalf("error %q does not name %s", err, tt.variable)
			}
			if !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("message %q does not name %s", err, tt.variable)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("message leaks a password: %q", err)
			}
		})
	}
}

func TestLoadReportsEveryBadVariable(t *testing.T) {
	_, err := Load(env(map[string]string{"TICKSTOCK_SIM_RATE": "x", "TICKSTOCK_SIGNUP": "y"}))
	if err == nil || !strings.Contains(err.Error(), "TICKSTOCK_SIM_RATE") || !strings.Contains(err.Error(), "TICKSTOCK_SIGNUP") {
		t.Fatalf("want both variables named, got %v", err)
	}
}
