package writeback

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseRef(t *testing.T) {
	tests := map[string]struct {
		want    refParts
		wantErr bool
	}{
		"ghcr.io/a/b:1.2.3":           {want: refParts{name: "ghcr.io/a/b", tag: "1.2.3"}},
		"podinfo:6.5.0":               {want: refParts{name: "podinfo", tag: "6.5.0"}},
		"localhost:5000/x:1":          {want: refParts{name: "localhost:5000/x", tag: "1"}},
		"ghcr.io/a/b:1@" + testDigest: {want: refParts{name: "ghcr.io/a/b", tag: "1", digest: testDigest}},
		"ghcr.io/a/b@" + testDigest:   {want: refParts{name: "ghcr.io/a/b", digest: testDigest}},
		"a/b-c__d.e:V_1.0-x":          {want: refParts{name: "a/b-c__d.e", tag: "V_1.0-x"}},
		"ghcr.io/a/b":                 {wantErr: true}, // no tag or digest
		"ghcr.io/A/b:1":               {wantErr: true},
		"ghcr.io/a/b:-1":              {wantErr: true},
		"ghcr.io/a//b:1":              {wantErr: true},
		"ghcr.io/a/b_:1":              {wantErr: true},
		"ghcr.io/a/b___c:1":           {wantErr: true},
		"ghcr.io/a/b:1@sha256:abc":    {wantErr: true},
		"ghcr.io/a/b:1 # x":           {wantErr: true},
		"":                            {wantErr: true},
		"ghcr.io/a/b:" + string(make([]byte, 129)): {wantErr: true},
	}
	for in, tc := range tests {
		t.Run(in, func(t *testing.T) {
			got, err := parseRef(in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidReference) {
					t.Fatalf("parseRef(%q) = %+v, %v; want ErrInvalidReference", in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(refParts{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefParts(t *testing.T) {
	tests := map[string]map[Part]string{
		"bitnami/nginx:1.25.3@" + testDigest: {
			PartFull: "bitnami/nginx:1.25.3@" + testDigest, PartTag: "1.25.3", PartName: "bitnami/nginx",
			PartDigest: testDigest, PartRegistry: "docker.io", PartRepository: "bitnami/nginx",
		},
		"registry.example.com:5000/team/app:2": {
			PartName: "registry.example.com:5000/team/app", PartRegistry: "registry.example.com:5000",
			PartRepository: "team/app", PartTag: "2",
		},
		"localhost/app:2": {PartRegistry: "localhost", PartRepository: "app"},
	}
	for ref, parts := range tests {
		r, err := parseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		for p, want := range parts {
			got, err := r.part(p, ref)
			if err != nil || got != want {
				t.Errorf("%s part %s = %q, %v; want %q", ref, p, got, err, want)
			}
		}
	}
	r, _ := parseRef("a/b:1")
	if _, err := r.part(PartDigest, "a/b:1"); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("digest of a reference without one: %v", err)
	}
	r, _ = parseRef("a/b@" + testDigest)
	if _, err := r.part(PartTag, "a/b@"+testDigest); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("tag of a reference without one: %v", err)
	}
}

func TestMarker(t *testing.T) {
	tests := map[string]struct {
		marker string
		ok     bool
		policy string
		part   Part
	}{
		`# {"$imagepolicy": "ns:name"}`:            {"ns:name", true, "ns:name", PartFull},
		`#{"$imagepolicy":"ns:name:tag"}`:          {"ns:name:tag", true, "ns:name", PartTag},
		`## {"$imagepolicy": "ns:name:name"}`:      {"ns:name:name", true, "ns:name", PartName},
		`# {"$imagepolicy": "ns:name:digest"}`:     {"ns:name:digest", true, "ns:name", PartDigest},
		`# {"$imagepolicy": "ns:name:registry"}`:   {"ns:name:registry", true, "ns:name", PartRegistry},
		`# {"$imagepolicy": "ns:name:repository"}`: {"ns:name:repository", true, "ns:name", PartRepository},
		`# {"$imagepolicy": "ns:name:other"}`:      {"ns:name:other", true, "ns:name:other", PartFull},
		`# {"$imagepolicy": "name"}`:               {"name", true, "name", PartFull},
		`# {"$imagepolicy": "name:tag"}`:           {"name:tag", true, "name:tag", PartFull},
		`# {"$imagepolicy": ""}`:                   {},
		`# {"$imagepolicy": "ns:name"} x`:          {},
		`# {"$imagepolicy": ["ns:name"]}`:          {},
		`# $imagepolicy`:                           {},
		`# plain`:                                  {},
	}
	for c, tc := range tests {
		m, ok := parseMarker(c)
		if m != tc.marker || ok != tc.ok {
			t.Errorf("parseMarker(%q) = %q, %v; want %q, %v", c, m, ok, tc.marker, tc.ok)
		}
		if !ok {
			continue
		}
		p, part := splitMarker(m)
		if p != tc.policy || part != tc.part {
			t.Errorf("splitMarker(%q) = %q, %q; want %q, %q", m, p, part, tc.policy, tc.part)
		}
	}
}

// TestMarkerHold: hoist's "hold" is a boolean; with any other value the
// comment is not a marker, as a marker with a value that is not a string.
func TestMarkerHold(t *testing.T) {
	tests := map[string]struct {
		marker   string
		hold, ok bool
	}{
		`# {"$imagepolicy": "ns:name", "hold": true}`:  {"ns:name", true, true},
		`# {"hold": false, "$imagepolicy": "ns:name"}`: {"ns:name", false, true},
		`# {"$imagepolicy": "ns:name", "hold": "yes"}`: {},
		`# {"$imagepolicy": "ns:name", "hold": null}`:  {},
		`# {"$imagepolicy": "ns:name", "other": 1}`:    {},
		`# {"$imagepolicy": "ns:name", "other": "x"}`:  {"ns:name", false, true},
		`# {"hold": true}`:                             {},
	}
	for c, tc := range tests {
		m, hold, ok := parseMarkerHold(c)
		if m != tc.marker || hold != tc.hold || ok != tc.ok {
			t.Errorf("parseMarkerHold(%q) = %q, %v, %v; want %q, %v, %v", c, m, hold, ok, tc.marker, tc.hold, tc.ok)
		}
	}
}

// TestScanHold: a marker's "hold" holds its target; the annotation
// hoist.dev/hold: "true" holds every target of its object, annotated
// containers and markers, and no other object's.
func TestScanHold(t *testing.T) {
	data := []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: held
  annotations: {hoist.dev/hold: "true", hoist.dev/policy: "semver:^1"}
spec:
  template:
    spec:
      containers:
        - {name: a, image: "r/a:1.0.0"}
        - {name: b, image: "r/b:1.0.0"} # {"$imagepolicy": "ns:b"}
---
kind: Deployment
metadata: {name: free, annotations: {hoist.dev/hold: "false"}}
spec:
  image: r/c:1.0.0 # {"$imagepolicy": "ns:c"}
  other: r/d:1.0.0 # {"$imagepolicy": "ns:d", "hold": true}
`)
	res := Scan([]File{{Path: "a.yaml", Data: data}})
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	got := map[string]bool{}
	for _, tg := range res.Targets {
		got[tg.Value] = tg.Hold
	}
	want := map[string]bool{"r/a:1.0.0": true, "r/b:1.0.0": true, "r/c:1.0.0": false, "r/d:1.0.0": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("held targets (-want +got):\n%s", diff)
	}
}

func TestPlainOK(t *testing.T) {
	tests := map[string]struct{ block, flow bool }{
		"ghcr.io/a/b:1.2.3": {true, true},
		"v1":                {true, true},
		"1.2.3":             {true, true},
		"sha256:" + "ab":    {true, true},
		"1.10":              {false, false},
		"10":                {false, false},
		"1e3":               {false, false},
		"0x1F":              {false, false},
		"1_000":             {false, false},
		"yes":               {false, false},
		"On":                {false, false},
		"null":              {false, false},
		"~":                 {false, false},
		"2024-01-02":        {false, false},
		".inf":              {false, false},
		"":                  {false, false},
		"a: b":              {false, false},
		"a #b":              {false, false},
		"-x":                {false, false},
		"*x":                {false, false},
		"a,b":               {true, false},
		"a]":                {true, false},
		"é":                 {false, false},
		"trailing ":         {false, false},
		"x:":                {false, false},
	}
	for v, tc := range tests {
		if got := plainOK(v, false); got != tc.block {
			t.Errorf("plainOK(%q, block) = %v, want %v", v, got, tc.block)
		}
		if got := plainOK(v, true); got != tc.flow {
			t.Errorf("plainOK(%q, flow) = %v, want %v", v, got, tc.flow)
		}
	}
}

func TestEncodeReadsBack(t *testing.T) {
	values := []string{"a", "it's", `q"uote`, `back\slash`, "tab\there", "new\nline", "ünï", "\u2028", "1.10", "yes", "#x"}
	for _, style := range []Style{StylePlain, StyleSingle, StyleDouble} {
		for _, flow := range []bool{false, true} {
			for _, v := range values {
				text, err := yamlFormat{}.encode(Target{Style: style, Flow: flow}, v)
				if err != nil {
					t.Fatal(err)
				}
				src := "k: " + text + "\n"
				if flow {
					src = "{k: " + text + "}\n"
				}
				var got map[string]any
				if err := yaml.Unmarshal([]byte(src), &got); err != nil {
					t.Fatalf("%s %v %q: %q does not parse: %v", style, flow, v, text, err)
				}
				if got["k"] != v {
					t.Errorf("%s %v: %q written as %q reads back as %#v", style, flow, v, text, got["k"])
				}
			}
		}
	}
}

func TestPlan(t *testing.T) {
	src := `a: ghcr.io/x/a:1 # {"$imagepolicy": "ns:a"}
b: ghcr.io/x/a:1 # {"$imagepolicy": "ns:a"}
t: "1" # {"$imagepolicy": "ns:a:tag"}
`
	targets := Scan([]File{{Path: "f.yaml", Data: []byte(src)}}).Targets
	if len(targets) != 3 {
		t.Fatalf("got %d targets", len(targets))
	}
	ignore := cmpopts.IgnoreFields(Change{}, "Sum", "Object", "Format")
	tests := map[string]struct {
		sel     Selections
		want    []Change
		wantErr []error
	}{
		"changes": {
			sel: Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}},
			want: []Change{
				{File: "f.yaml", Line: 1, Column: 4, Old: "ghcr.io/x/a:1", New: "ghcr.io/x/a:2", Policy: "ns:a", Setter: "ns:a", Field: "a", Span: Span{3, 16}, Text: "ghcr.io/x/a:2"},
				{File: "f.yaml", Line: 2, Column: 4, Old: "ghcr.io/x/a:1", New: "ghcr.io/x/a:2", Policy: "ns:a", Setter: "ns:a", Field: "b", Span: Span{47, 60}, Text: "ghcr.io/x/a:2"},
				{File: "f.yaml", Line: 3, Column: 4, Old: "1", New: "2", Policy: "ns:a", Setter: "ns:a:tag", Field: "t", Span: Span{91, 94}, Text: `"2"`},
			},
		},
		"up to date":       {sel: Selections{"ns:a": {Ref: "ghcr.io/x/a:1"}}},
		"nothing selected": {sel: Selections{"ns:a": {}}},
		"unknown policy": {
			sel:     Selections{"ns:b": {Ref: "ghcr.io/x/a:2"}},
			wantErr: []error{ErrUnknownPolicy, ErrUnknownPolicy, ErrUnknownPolicy},
		},
		"invalid reference": {
			sel:     Selections{"ns:a": {Ref: "ghcr.io/x/a:2 3"}},
			wantErr: []error{ErrInvalidReference, ErrInvalidReference, ErrInvalidReference},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cs := Plan(targets, tc.sel)
			if diff := cmp.Diff(tc.want, cs.Changes, ignore); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if len(cs.Errors) != len(tc.wantErr) {
				t.Fatalf("errors: %v", cs.Errors)
			}
			for i, e := range cs.Errors {
				if !errors.Is(e, tc.wantErr[i]) || e.File != "f.yaml" || e.Line != i+1 {
					t.Errorf("error %d: %v", i, e)
				}
			}
		})
	}
}

func TestPlanDoesNotReorderInput(t *testing.T) {
	ts := []Target{
		{File: "b.yaml", Policy: "x", Span: Span{0, 1}},
		{File: "a.yaml", Policy: "x", Span: Span{0, 1}},
	}
	_ = Plan(ts, Selections{})
	if ts[0].File != "b.yaml" {
		t.Error("Plan sorted the caller's slice")
	}
}

func TestChangesetJSON(t *testing.T) {
	res := Scan([]File{{Path: "f.yaml", Data: []byte(oneMarker + "b: x # {\"$imagepolicy\": \"ns:b\"}\n")}})
	cs := Plan(res.Targets, Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}})
	got, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"changes":[],"errors":[{"file":"f.yaml","line":2,"policy":"ns:b","error":"unknown policy"}]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	cs = Plan(res.Targets[:1], Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}})
	got, _ = json.Marshal(cs)
	want = `{"changes":[{"file":"f.yaml","line":1,"column":8,"old":"ghcr.io/x/a:1","new":"ghcr.io/x/a:2","policy":"ns:a","setter":"ns:a","object":{},"field":"image"}],"errors":[]}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestScreen(t *testing.T) {
	for _, key := range []string{markerKey, annHoistPolicy, annFluxTag, annKeelPolicy, annHoistPolicy + ".app", annFluxTag + "app"} {
		for _, data := range []string{key, "x: " + key + "\n", "a/b/" + key} {
			if !screenText([]byte(data)) {
				t.Errorf("screen(%q) = false", data)
			}
		}
	}
	for _, data := range []string{"", "/", "hoist.dev/", "/policy", "keel.sh/polic", "fluxcd.io/tag", "$imagepolic", "apiVersion: policy/v1\n"} {
		if screenText([]byte(data)) {
			t.Errorf("screen(%q) = true", data)
		}
	}
}
