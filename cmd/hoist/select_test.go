package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunSelect(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "created.json")
	if err := os.WriteFile(created, []byte(`{"main-a":"2026-01-01T00:00:00Z","main-b":"2026-02-01T00:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts     selectOptions
		stdin    string
		want     string
		wantCode int
	}{
		"semver":             {opts: selectOptions{semver: "^6"}, stdin: "6.0.0\n6.1.0\n7.0.0\n", want: "6.1.0\n"},
		"json array input":   {opts: selectOptions{semver: "^6"}, stdin: `["6.0.0","6.2.0"]`, want: "6.2.0\n"},
		"json output":        {opts: selectOptions{alphabetical: "asc", output: "json"}, stdin: "a\nb\nx.sig\n", want: "{\n  \"tag\": \"b\",\n  \"candidates\": 2,\n  \"dropped\": 1\n}\n"},
		"pattern extract":    {opts: selectOptions{numerical: "asc", pattern: `^b-(?P<n>\d+)$`, extract: "$n"}, stdin: "b-9\nb-10\nc-99\n", want: "b-10\n"},
		"glob":               {opts: selectOptions{semver: "*", glob: "1.*"}, stdin: "1.0.0\n1.5.0\n2.0.0\n", want: "1.5.0\n"},
		"exclude adds":       {opts: selectOptions{alphabetical: "asc", exclude: []string{"^z"}}, stdin: "a\nzz\n", want: "a\n"},
		"newest build":       {opts: selectOptions{newestBuild: true, created: created}, stdin: "main-a\nmain-b\n", want: "main-b\n"},
		"policy document":    {opts: selectOptions{policyFile: "testdata/policies.yaml", name: "apps/podinfo"}, stdin: "6.0.0\n6.4.0\n1.25\n7.0.0\n", want: "6.4.0\n"},
		"no match exits 1":   {opts: selectOptions{semver: ">=9"}, stdin: "1.0.0\n", wantCode: 1},
		"bad range exits 2":  {opts: selectOptions{semver: ">>1"}, stdin: "1.0.0\n", wantCode: 2},
		"two rules exits 2":  {opts: selectOptions{semver: "*", numerical: "asc"}, stdin: "1\n", wantCode: 2},
		"no created exits 2": {opts: selectOptions{newestBuild: true}, stdin: "a\n", wantCode: 2},
		"unknown policy":     {opts: selectOptions{policyFile: "testdata/policies.yaml", name: "apps/nope"}, stdin: "1\n", wantCode: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := tc.opts
			o.tags = "-"
			if o.output == "" {
				o.output = "text"
			}
			var out bytes.Buffer
			err := runSelect(o, flagCheck{}, strings.NewReader(tc.stdin), &out)
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				t.Fatalf("unexpected error type: %v", err)
			}
			if code != tc.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.wantCode)
			}
			if tc.wantCode == 0 {
				if diff := cmp.Diff(tc.want, out.String()); diff != "" {
					t.Errorf("output (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRunSelectExplain(t *testing.T) {
	var out bytes.Buffer
	err := runSelect(selectOptions{tags: "-", semver: "^1", explain: true, output: "text"}, flagCheck{}, strings.NewReader("1.0.0\n1.1.0-rc.1\nlatest\n"), &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.0.0", "a pre-release, and the range names none", "not a semantic version", "1 candidate, 2 dropped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  imageRepositoryRef: {name: missing}\n  policy:\n    semver: {range: '>>1'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runValidate([]string{bad}, "text", &out)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("err = %v, want exit 2", err)
	}
	for _, want := range []string{"bad.yaml:7", "spec.policy.semver.range", "bad.yaml:5", "imageRepositoryRef"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runValidate([]string{"testdata/policies.yaml"}, "text", &out); err != nil {
		t.Fatalf("valid documents: %v", err)
	}
}
