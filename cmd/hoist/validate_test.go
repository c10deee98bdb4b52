package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/registry/webhook"
)

// TestValidate: errors and warnings both go to stdout, in text and in JSON;
// the closing line on stderr counts in the singular and the plural.
func TestValidate(t *testing.T) {
	const (
		warning = "testdata/validate/warning.yaml"
		invalid = "testdata/validate/invalid.yaml"
		valid   = "testdata/policies.yaml"
	)
	tests := map[string]struct {
		args []string
		want cli
	}{
		"valid": {
			args: []string{"validate", valid},
			want: cli{stdout: "ok: 1 image repository, 1 policy, 0 automations, 0 Git repositories and 0 receivers in testdata/policies.yaml\n"},
		},
		"warning on stdout": {
			args: []string{"validate", "-c", warning},
			want: cli{stdout: "warning: " + warning + `:8: spec.serviceAccountName: field of Flux's API that hoist does not act on; ignored` + "\n" +
				"ok: 1 image repository, 0 policies, 0 automations, 0 Git repositories and 0 receivers in " + warning + "\n"},
		},
		"errors": {
			args: []string{"validate", invalid},
			want: cli{
				stdout: invalid + ":4: parsing YAML: found character that cannot start any token\n" +
					invalid + `:10: spec.imageRepositoryRef.name: no ImageRepository "podinfo" in namespace "default"` + "\n" +
					invalid + `:12: spec.colour: unknown field "colour"` + "\n",
				stderr: "hoist: 3 configuration errors in " + invalid + "\n",
				code:   2,
			},
		},
		"one error": {
			args: []string{"validate", "../../config/testdata/invalid/duplicate-key.yaml"},
			want: cli{
				stdout: "../../config/testdata/invalid/duplicate-key.yaml:7: spec.image: given twice (first at line 5)\n",
				stderr: "hoist: 1 configuration error in ../../config/testdata/invalid/duplicate-key.yaml\n",
				code:   2,
			},
		},
		"receiver naming a missing resource": {
			args: []string{"validate", "testdata/validate/receiver-missing.yaml"},
			want: cli{
				stdout: "testdata/validate/receiver-missing.yaml:14: spec.resources[1].name: " +
					`no ImageRepository "api" in namespace "apps" in the files read (a request would fail with 500)` + "\n",
				stderr: "hoist: 1 configuration error in testdata/validate/receiver-missing.yaml\n",
				code:   2,
			},
		},
		"receiver: named resource with matchLabels warns": {
			args: []string{"validate", "testdata/validate/receiver-labels.yaml"},
			want: cli{stdout: "warning: testdata/validate/receiver-labels.yaml:13: spec.resources[0].matchLabels: " +
				`ignored: the resource is named "web" (labels select only with name "*"), as in Flux` + "\n" +
				"ok: 1 image repository, 0 policies, 0 automations, 0 Git repositories and 1 receiver in testdata/validate/receiver-labels.yaml\n"},
		},
		"missing path": {
			args: []string{"validate", "testdata/no-such-file.yaml"},
			want: cli{stderr: "hoist: reading config: stat testdata/no-such-file.yaml: no such file or directory\n", code: 2},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, runCLI(t, nil, "", tc.args...), cmp.AllowUnexported(cli{})); diff != "" {
				t.Errorf("hoist %v (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	tests := map[string]struct {
		args     []string
		want     validateJSON
		wantCode int
	}{
		"valid with a warning": {
			args: []string{"validate", "-o", "json", "testdata/validate/warning.yaml", "testdata/policies.yaml"},
			want: validateJSON{
				Paths: []string{"testdata/validate/warning.yaml", "testdata/policies.yaml"}, Valid: true,
				Objects: validateObjects{ImageRepositories: 2, ImagePolicies: 1},
				Errors:  []problemJSON{},
				Warnings: []problemJSON{{
					File: "testdata/validate/warning.yaml", Line: 8, Column: 3, Field: "spec.serviceAccountName",
					Message: `field of Flux's API that hoist does not act on; ignored`,
				}},
			},
		},
		"invalid": {
			args: []string{"validate", "-o", "json", "testdata/validate/invalid.yaml"},
			want: validateJSON{
				Paths: []string{"testdata/validate/invalid.yaml"},
				Errors: []problemJSON{
					{File: "testdata/validate/invalid.yaml", Line: 4, Message: "parsing YAML: found character that cannot start any token"},
					{File: "testdata/validate/invalid.yaml", Line: 10, Column: 24, Field: "spec.imageRepositoryRef.name", Message: `no ImageRepository "podinfo" in namespace "default"`},
					{File: "testdata/validate/invalid.yaml", Line: 12, Column: 3, Field: "spec.colour", Message: `unknown field "colour"`},
				},
				Warnings: []problemJSON{},
			},
			wantCode: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := runCLI(t, nil, "", tc.args...)
			if res.code != tc.wantCode {
				t.Errorf("exit status %d, want %d; stderr: %s", res.code, tc.wantCode, res.stderr)
			}
			var got validateJSON
			if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("hoist %v (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

// TestValidateCurrentDirectory: with no argument validate reads ., says
// so, and skips what is not a document: files of other types, a pipe named
// like a YAML file.
func TestValidateCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# not: [yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, ".editor-tmp.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	want := cli{stdout: "ok: 1 image repository, 1 policy, 0 automations, 0 Git repositories and 0 receivers in .\n"}
	if diff := cmp.Diff(want, runCLI(t, nil, "", "validate"), cmp.AllowUnexported(cli{})); diff != "" {
		t.Errorf("hoist validate (-want +got):\n%s", diff)
	}
}

func TestReceivers(t *testing.T) {
	secrets := t.TempDir()
	if err := os.MkdirAll(filepath.Join(secrets, "webhook-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "webhook-token", "token"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := webhook.Path("s3cret", "ghcr", "apps")
	oidcPath := webhook.Path("", "ci", "apps") // generic-oidc: no token, as in Flux
	missing := `reading webhook secret "no-such-secret": ` + filepath.Join(secrets, "no-such-secret", "token") + " does not exist: open " +
		filepath.Join(secrets, "no-such-secret", "token") + ": no such file or directory"

	got := runCLI(t, nil, "", "receivers", "-c", "testdata/receivers.yaml", "--secrets-dir", secrets)
	want := cli{
		stdout: "RECEIVER   TYPE          PATH\n" +
			"apps/ghcr  generic       " + path + "\n" +
			"apps/quay  quay          (error: " + missing + ")\n" +
			"apps/ci    generic-oidc  " + oidcPath + "\n",
		stderr: "hoist: 1 receiver has no readable token\n",
		code:   1,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(cli{})); diff != "" {
		t.Errorf("hoist receivers (-want +got):\n%s", diff)
	}

	got = runCLI(t, nil, "", "receivers", "-c", "testdata/receivers.yaml", "--secrets-dir", secrets, "-o", "json")
	var out receiversJSON
	if err := json.Unmarshal([]byte(got.stdout), &out); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, got.stdout)
	}
	wantJSON := receiversJSON{Receivers: []receiverJSON{
		{Namespace: "apps", Name: "ghcr", Type: "generic", Path: path},
		{Namespace: "apps", Name: "quay", Type: "quay", Error: missing},
		{Namespace: "apps", Name: "ci", Type: "generic-oidc", Path: oidcPath},
	}}
	if diff := cmp.Diff(wantJSON, out); diff != "" || got.code != 1 {
		t.Errorf("hoist receivers -o json: exit %d (-want +got):\n%s", got.code, diff)
	}

	// Only the flags receivers uses are offered.
	help := runCLI(t, nil, "", "receivers", "--help")
	for _, flag := range []string{"--registry-rps", "--registry-concurrency", "--ca-file", "--no-cache"} {
		if got := runCLI(t, nil, "", "receivers", flag); got.code != 2 {
			t.Errorf("hoist receivers %s: exit %d, want 2 (unknown flag)", flag, got.code)
		}
		if contains(help.stdout, flag) {
			t.Errorf("hoist receivers --help lists %s", flag)
		}
	}
}
