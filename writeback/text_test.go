package writeback

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestTextTargets(t *testing.T) {
	tests := map[string]struct {
		file string
		in   string
		want []Target // File, Format, Sum and Part are not compared
		err  error
	}{
		"jsonnet single quotes and comma": {
			file: "a.jsonnet",
			in:   "{ image: 'r/a:1', // {\"$imagepolicy\": \"ns:p\"}\n}\n",
			want: []Target{{Line: 1, Column: 10, Span: Span{9, 16}, Style: StyleSingle, Value: "r/a:1", Policy: "ns:p", Marker: "ns:p"}},
		},
		"hash marker, double quotes": {
			file: "x.hcl",
			in:   "a = \"r/a:1\" # {\"$imagepolicy\": \"ns:p:tag\"}",
			want: []Target{{Line: 1, Column: 5, Span: Span{4, 11}, Style: StyleDouble, Value: "r/a:1", Policy: "ns:p", Marker: "ns:p:tag"}},
		},
		"bare token after =": {
			file: ".env",
			in:   "X=1\nIMG=r/a:1@sha256:ab # {\"$imagepolicy\": \"ns:p\"}\n",
			want: []Target{{Line: 2, Column: 5, Span: Span{8, 23}, Style: StylePlain, Value: "r/a:1@sha256:ab", Policy: "ns:p", Marker: "ns:p"}},
		},
		"held marker": {
			file: "a.jsonnet",
			in:   "{ image: \"r/a:1\", // {\"$imagepolicy\": \"ns:p\", \"hold\": true}\n}\n",
			want: []Target{{Line: 1, Column: 10, Span: Span{9, 16}, Style: StyleDouble, Value: "r/a:1", Policy: "ns:p", Marker: "ns:p", Hold: true}},
		},
		"Dockerfile held marker before FROM": {
			file: "Dockerfile",
			in:   "# {\"$imagepolicy\": \"ns:p\", \"hold\": true}\nFROM r/a:1\n",
			want: []Target{{Line: 2, Column: 6, Span: Span{46, 51}, Style: StylePlain, Value: "r/a:1", Policy: "ns:p", Marker: "ns:p", Hold: true}},
		},
		"multibyte column": {
			file: "a.cue",
			in:   "é: \"r\" // {\"$imagepolicy\": \"ns:p\"}\n",
			want: []Target{{Line: 1, Column: 4, Span: Span{4, 7}, Style: StyleDouble, Value: "r", Policy: "ns:p", Marker: "ns:p"}},
		},
		"Dockerfile line before FROM": {
			file: "Dockerfile",
			in:   "# {\"$imagepolicy\": \"ns:p\"}\n\nFROM --platform=x r/a:1 AS b\n",
			want: []Target{{Line: 3, Column: 19, Span: Span{46, 51}, Style: StylePlain, Value: "r/a:1", Policy: "ns:p", Marker: "ns:p"}},
		},
		"not a marker: no blank before #": {
			file: "a.toml",
			in:   "a = \"r\"#{\"$imagepolicy\": \"ns:p\"}\n",
		},
		"not a marker: more after the object": {
			file: "a.toml",
			in:   "a = \"r\" # {\"$imagepolicy\": \"ns:p\"} and more\n",
		},
		"marker ends nothing usable": {
			file: "a.toml",
			in:   "a = [ # {\"$imagepolicy\": \"ns:p\"}\n",
			err:  ErrUnsupported,
		},
		"string not closed on the line": {
			file: "a.toml",
			in:   "a = r\" # {\"$imagepolicy\": \"ns:p\"}\n",
			err:  ErrUnsupported,
		},
		"escaped quote inside": {
			file: "a.jsonnet",
			in:   "{a: 'x\\'y'} // {\"$imagepolicy\": \"ns:p\"}\n",
			err:  ErrUnsupported,
		},
		"trailing marker in a Dockerfile": {
			file: "build.dockerfile",
			in:   "FROM r/a:1 # {\"$imagepolicy\": \"ns:p\"}\n",
			err:  ErrUnsupported,
		},
		"own-line marker before no FROM": {
			file: "a.toml",
			in:   "# {\"$imagepolicy\": \"ns:p\"}\na = 1\n",
			err:  ErrUnsupported,
		},
		"Jsonnet that does not parse": {
			file: "a.libsonnet",
			in:   "{ a: 'r' // {\"$imagepolicy\": \"ns:p\"}\n",
			err:  ErrParse,
		},
		"too large": {
			file: "a.toml",
			in:   "a = 'r' # {\"$imagepolicy\": \"ns:p\"}\n" + strings.Repeat("#\n", MaxTextSize/2),
			err:  ErrUnsupported,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := textFormat{}.targets(tc.file, []byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			var fe *FileError
			if err != nil && (!errors.As(err, &fe) || fe.File != tc.file) {
				t.Errorf("error %v does not name the file", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Target{}, "File", "Format", "Sum", "Part"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			for _, tg := range got {
				if tc.in[tg.Span.Start:tg.Span.End] != map[Style]string{StylePlain: tg.Value, StyleDouble: `"` + tg.Value + `"`, StyleSingle: "'" + tg.Value + "'"}[tg.Style] {
					t.Errorf("span %v reads %q, not the value %q", tg.Span, tc.in[tg.Span.Start:tg.Span.End], tg.Value)
				}
			}
		})
	}
}

func TestTextFormatFor(t *testing.T) {
	tests := map[string]string{
		"a/b.jsonnet": "text", "lib.libsonnet": "text", "x.cue": "text", "main.tf": "text", "x.hcl": "text",
		"c.toml": "text", ".env": "text", "prod.env": "text", "Dockerfile": "text", "Dockerfile.prod": "text",
		"app.dockerfile": "text", "Containerfile": "text", "a.yaml": "yaml", "Kustomization": "yaml",
		"README.md": "", "x.json": "", "run.sh": "",
	}
	for p, want := range tests {
		got := ""
		if f := formatFor(p, false); f != nil {
			got = f.name()
		}
		if got != want {
			t.Errorf("formatFor(%q) = %q, want %q", p, got, want)
		}
	}
}

// FuzzTextMarkers scans arbitrary text as Jsonnet (so that the result is
// parsed too) and as a Dockerfile, plans a new value for every target and
// applies it: nothing panics, each span holds its value as written, and the
// edit reads back as planned (Apply verifies it), or is refused with an
// error of this package.
func FuzzTextMarkers(f *testing.F) {
	_ = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && textFile(p) {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, "1.10")
			}
		}
		return nil
	})
	for _, s := range []string{
		"{ image: 'r/a:1', // {\"$imagepolicy\": \"ns:p\"}\n}\n",
		"IMG=r/a:1 # {\"$imagepolicy\": \"ns:p:tag\"}\r\n",
		"# {\"$imagepolicy\": \"ns:p\"}\nFROM r/a:1\n",
		"a = \"\" # {\"$imagepolicy\": \"ns:p\"}",
		"x '\\\\' # {\"$imagepolicy\": \"ns:p\"}",
	} {
		f.Add([]byte(s), "on")
	}
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		for _, file := range []string{"f.jsonnet", "Dockerfile", "f.env"} {
			ts, err := textFormat{}.targets(file, data)
			if err != nil {
				if ts != nil {
					t.Fatalf("%s: a refused file yields targets: %v", file, err)
				}
				continue
			}
			for _, tg := range ts {
				// The span is the value as written: bare, or in one pair
				// of quotes (whose content may hold the other quote).
				raw := string(data[tg.Span.Start:tg.Span.End])
				quoted := len(raw) >= 2 && (raw[0] == '"' || raw[0] == '\'') && raw[len(raw)-1] == raw[0] && raw[1:len(raw)-1] == tg.Value
				if raw != tg.Value && !quoted {
					t.Fatalf("%s: span %v reads %q, value %q", file, tg.Span, raw, tg.Value)
				}
			}
			ref := fuzzRef(tag)
			cs := Plan(ts, everyKey(ts, ref))
			if len(cs.Changes) == 0 {
				continue
			}
			out, err := Apply(data, cs.Changes)
			if err != nil {
				if !errors.Is(err, ErrVerify) && !errors.Is(err, ErrParse) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("%s: %v", file, err)
				}
				continue
			}
			again, err := textFormat{}.targets(file, out)
			if err != nil {
				t.Fatalf("%s: the edited file is refused: %v\n%q", file, err, out)
			}
			if cs2 := Plan(again, everyKey(again, ref)); len(cs2.Changes) != 0 || len(cs2.Errors) != 0 {
				t.Fatalf("%s: planning again: %+v", file, cs2)
			}
			if !bytes.Equal(data[:cs.Changes[0].Span.Start], out[:cs.Changes[0].Span.Start]) {
				t.Fatalf("%s: bytes before the first change differ", file)
			}
		}
	})
}
