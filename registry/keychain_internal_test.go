package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// stepClock is a Clock moved by hand.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                             { return c.now }
func (c *stepClock) Sleep(context.Context, time.Duration) error { return nil }

// TestDockerKeychainRereadsFiles: a credential file's last reading stands
// for fileRecheck; then the file is looked at again: read when it appeared
// or changed, kept when unchanged (unless it was read as it was being
// written), dropped when gone. A file that does not parse is an error each
// time.
func TestDockerKeychainRereadsFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	clock := &stepClock{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	k := newDockerKeychain([]string{path}, clock)
	// write writes the file, modified at mod (file times are the wall
	// clock's).
	write := func(data string, mod time.Time) func() {
		return func() {
			t.Helper()
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
	}
	hour := time.Now().Add(-time.Hour)
	hosts := func(cfg *DockerConfig) string {
		if cfg == nil {
			return "(missing)"
		}
		return cfg.String()
	}
	var last *DockerConfig
	steps := []struct {
		name    string
		do      func()
		advance time.Duration
		want    string
		same    bool // the very config read before, or not
		wantErr bool
	}{
		{name: "missing", want: "(missing)"},
		{name: "written, within the recheck", do: write(`{"auths":{"a.example":{}}}`, hour), advance: time.Second, want: "(missing)"},
		{name: "after the recheck: read", advance: fileRecheck, want: "DockerConfig(auths: a.example)"},
		{name: "unchanged after the recheck: kept", advance: fileRecheck, want: "DockerConfig(auths: a.example)", same: true},
		{name: "changed, within the recheck", do: write(`{"auths":{"b.example":{}}}`, hour.Add(time.Minute)), advance: time.Second, want: "DockerConfig(auths: a.example)", same: true},
		{name: "changed, after the recheck: read", advance: fileRecheck, want: "DockerConfig(auths: b.example)"},
		{name: "written just now: read", do: write(`{"auths":{"c.example":{}}}`, time.Now()), advance: fileRecheck, want: "DockerConfig(auths: c.example)"},
		{name: "written just now, unchanged: read again", advance: fileRecheck, want: "DockerConfig(auths: c.example)"},
		{name: "not JSON: an error", do: write(`{`, hour), advance: fileRecheck, wantErr: true},
		{name: "not JSON, at once again: an error", wantErr: true},
		{name: "gone", do: func() { _ = os.Remove(path) }, advance: fileRecheck, want: "(missing)"},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		clock.now = clock.now.Add(st.advance)
		cfg, err := k.config(path)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: error %v, want error %v", st.name, err, st.wantErr)
		}
		if st.wantErr {
			continue
		}
		if got := hosts(cfg); got != st.want {
			t.Errorf("%s: %s, want %s", st.name, got, st.want)
		}
		if cfg != nil && last != nil && (cfg == last) != st.same {
			t.Errorf("%s: the config read before %v, want %v", st.name, cfg == last, st.same)
		}
		last = cfg
	}
}

// BenchmarkDockerKeychainResolve resolves a repository's credentials as a
// rescan does once its cached answer expired, from Docker's config.json
// (present) and the containers tools' two auth.json (missing, as most
// often): "read" reads the files at each resolve, as before, "kept" looks
// at them again only fileRecheck after the last look.
func BenchmarkDockerKeychainResolve(b *testing.B) {
	dir := b.TempDir()
	files := []string{filepath.Join(dir, "config.json"), filepath.Join(dir, "run", "auth.json"), filepath.Join(dir, "home", "auth.json")}
	if err := os.WriteFile(files[0], []byte(`{"auths":{"ghcr.io":{"auth":"dTpw"}}}`), 0o600); err != nil {
		b.Fatal(err)
	}
	target, err := parseRepo(Repo{Image: "registry.example.com/team/app"})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"read", "kept"} {
		b.Run(mode, func(b *testing.B) {
			k := newDockerKeychain(files, SystemClock{})
			b.ReportAllocs()
			for b.Loop() {
				if mode == "read" {
					k.mu.Lock()
					clear(k.read)
					k.mu.Unlock()
				}
				if _, err := k.resolve(b.Context(), target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
