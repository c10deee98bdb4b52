package writeback

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPlan plans and applies edits on arbitrary YAML. It checks that
// nothing panics, that applying a plan changes only the planned spans (and
// reads back as planned, which Apply verifies), and that scanning and
// planning again yields no change.
func FuzzPlan(f *testing.F) {
	_ = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(filepath.Dir(filepath.Dir(p))) != "fuzz" &&
			filepath.Base(p) != "case.yaml" {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b, "1.10")
			}
		}
		return nil
	})
	for _, s := range []string{
		"a: b # {\"$imagepolicy\": \"x:y\"}\n",
		"- 'a' # {\"$imagepolicy\": \"x:y:tag\"}\n",
		"{a: b, # {\"$imagepolicy\": \"x:y\"}\n c: d}\n",
		"k: &a !!str v # {\"$imagepolicy\": \"x:y\"}\nl: *a # {\"$imagepolicy\": \"x:y:name\"}\n",
		"kind: Pod\napiVersion: v1\nmetadata: {annotations: {hoist.dev/policy: x}}\nspec: {containers: [{name: a, image: b}]}\n",
		"a: \"\\x41\" # {\"$imagepolicy\": \"x:y\"}\r\n",
		"\ufeffa: b # {\"$imagepolicy\": \"x:y\"}",
	} {
		f.Add([]byte(s), "on")
	}
	f.Fuzz(func(t *testing.T, data []byte, tag string) {
		if !(yamlFormat{}).screen(data) {
			// The screen reads UTF-16 as the text it encodes, not its bytes.
			text := data
			if isUTF16(data) {
				text = decodeUTF16(data)
			}
			for _, key := range []string{markerKey, annHoistPolicy, annFluxTag, annKeelPolicy} {
				if bytes.Contains(text, []byte(key)) {
					t.Fatalf("screen misses %q", key)
				}
			}
		}
		res := Scan([]File{{Path: "f.yaml", Data: data}})
		if len(res.Errors) > 0 {
			if len(res.Targets) > 0 {
				t.Fatalf("a refused file yields targets: %v", res.Errors)
			}
			return
		}
		ref := fuzzRef(tag)
		cs := Plan(res.Targets, everyKey(res.Targets, ref))
		for _, e := range cs.Errors {
			if !errors.Is(e, ErrConflict) && !errors.Is(e, ErrInvalidReference) {
				t.Fatalf("plan: %v", e)
			}
		}
		if len(cs.Errors) > 0 {
			return
		}
		out, err := Apply(data, cs.Changes)
		if err != nil {
			t.Fatalf("apply: %v\nchanges: %+v", err, cs.Changes)
		}
		// Only the planned spans changed.
		prev, off := 0, 0
		for _, c := range cs.Changes {
			keep := data[prev:c.Span.Start]
			if !bytes.Equal(out[off:off+len(keep)], keep) {
				t.Fatalf("bytes outside the planned spans changed")
			}
			off += len(keep)
			if string(out[off:off+len(c.Text)]) != c.Text {
				t.Fatalf("span does not hold the planned text")
			}
			off += len(c.Text)
			prev = c.Span.End
		}
		if !bytes.Equal(out[off:], data[prev:]) {
			t.Fatalf("bytes after the last span changed")
		}
		// Applying, then planning again, changes nothing.
		res2 := Scan([]File{{Path: "f.yaml", Data: out}})
		if len(res2.Errors) > 0 {
			t.Fatalf("edited file refused: %v", res2.Errors)
		}
		if len(res2.Targets) != len(res.Targets) {
			t.Fatalf("%d targets became %d", len(res.Targets), len(res2.Targets))
		}
		cs2 := Plan(res2.Targets, everyKey(res2.Targets, ref))
		if len(cs2.Changes) > 0 || len(cs2.Errors) > 0 {
			t.Fatalf("second plan: %+v %v", cs2.Changes, cs2.Errors)
		}
	})
}

// fuzzRef builds a valid reference around a fuzzed tag.
func fuzzRef(tag string) string {
	if !validTag(tag) {
		tag = "1.0"
	}
	ref := "example.com/fuzz/img:" + tag
	if len(tag)%2 == 0 {
		ref += "@sha256:" + string(bytes.Repeat([]byte("ab"), 32))
	}
	return ref
}

// everyKey selects ref for the policy of every target.
func everyKey(ts []Target, ref string) Selections {
	sel := make(Selections)
	for _, t := range ts {
		sel[t.Policy] = Selection{Ref: ref}
	}
	return sel
}

// FuzzParseRef checks that a reference accepted by parseRef splits into
// parts that rebuild it, and that every part a target can ask for is one
// go-containerregistry's name package accepts in its place.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"ghcr.io/a/b:1.2.3", "podinfo:6", "localhost:5000/x:1@" + testDigest, "a@" + testDigest, "A:b", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRef(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("error does not wrap ErrInvalidReference: %v", err)
			}
			return
		}
		rebuilt := r.name
		if r.tag != "" {
			rebuilt += ":" + r.tag
		}
		if r.digest != "" {
			rebuilt += "@" + r.digest
		}
		if rebuilt != s {
			t.Fatalf("%q split into %+v", s, r)
		}
		host, repo := r.registry()
		if host == "" || repo == "" {
			t.Fatalf("%q: registry %q, repository %q", s, host, repo)
		}
		if r.tag != "" {
			if _, err := parseRef(r.name + ":" + r.tag); err != nil {
				t.Fatalf("name and tag of %q do not form a reference: %v", s, err)
			}
		}
	})
}

// FuzzParseMarker checks that a marker comment parses to a non-empty value,
// that parseMarker and parseMarkerHold agree, and that a marker with its
// "hold" written out again parses to the same value and hold.
func FuzzParseMarker(f *testing.F) {
	for _, s := range []string{`# {"$imagepolicy": "ns:p"}`, `# {"$imagepolicy": "ns:p:tag", "hold": true}`, `#{"hold":false,"$imagepolicy":"a"}`, `# {"$imagepolicy": "x", "hold": 1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, hold, ok := parseMarkerHold(s)
		v2, ok2 := parseMarker(s)
		if v != v2 || ok != ok2 {
			t.Fatalf("parseMarker(%q) = %q, %v; parseMarkerHold: %q, %v", s, v2, ok2, v, ok)
		}
		if !ok {
			if hold {
				t.Fatalf("%q: not a marker, but held", s)
			}
			return
		}
		if v == "" {
			t.Fatalf("%q: a marker with an empty value", s)
		}
		again, err := json.Marshal(map[string]any{markerKey: v, markerHoldKey: hold})
		if err != nil {
			t.Fatal(err)
		}
		if v3, hold3, ok3 := parseMarkerHold("# " + string(again)); v3 != v || hold3 != hold || !ok3 {
			t.Fatalf("%q written again as %s parses to %q, %v, %v", s, again, v3, hold3, ok3)
		}
	})
}

// FuzzDiff checks that Diff's hunks apply to the old text and give the new.
func FuzzDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\n")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nx\n4\n5\n6\n7\ny\n9\n")
	f.Fuzz(func(t *testing.T, old, new string) {
		// applyUnified handles whole lines only.
		if !strings.HasSuffix(old, "\n") || !strings.HasSuffix(new, "\n") {
			return
		}
		got, err := applyUnified(old, Diff("f", []byte(old), []byte(new)))
		if err != nil {
			t.Fatal(err)
		}
		if got != new {
			t.Fatalf("patched %q into %q, want %q", old, got, new)
		}
	})
}
