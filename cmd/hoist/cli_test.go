package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cli is one run of hoist's command line, in process.
type cli struct {
	stdout, stderr string
	code           int
}

// runCLI runs hoist with args, reading HOIST_* variables from env only,
// and returns what it printed and its exit status.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) cli {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitCode(err, &stderr)
	return cli{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := map[string]struct {
		ldflags  linkerFlags
		info     *debug.BuildInfo
		want     versionInfo
		wantText string
	}{
		"no build info": {want: versionInfo{Version: "dev"}, wantText: "dev"},
		"go install": {
			info:     &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}},
			want:     versionInfo{Version: "v1.2.3", GoVersion: "go1.26.0"},
			wantText: "v1.2.3 (go1.26.0)",
		},
		"go build in a checkout": {
			info: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab+dirty"}, Settings: vcs},
			want: versionInfo{
				Version: "v0.0.0-20260102030405-0123456789ab+dirty", Revision: "0123456789abcdef0123456789abcdef01234567",
				Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.26.0",
			},
			wantText: "v0.0.0-20260102030405-0123456789ab+dirty (commit 0123456789ab, modified, go1.26.0)",
		},
		"go build without a version": {
			info:     &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:2]},
			want:     versionInfo{Version: "dev", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.0"},
			wantText: "dev (commit 0123456789ab, go1.26.0)",
		},
		"make build": {
			ldflags: linkerFlags{Version: "v9.9.9", Commit: "fedcba9876543210fedcba9876543210fedcba98", BuildDate: "2026-01-02T03:04:05Z"},
			info:    &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: versionInfo{
				Version: "v9.9.9", Revision: "fedcba9876543210fedcba9876543210fedcba98",
				BuildDate: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0",
			},
			wantText: "v9.9.9 (commit fedcba987654, built 2026-01-02T03:04:05Z, go1.26.0)",
		},
		"ldflags win": {
			ldflags:  linkerFlags{Version: "v9.9.9"},
			info:     &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs[:2]},
			want:     versionInfo{Version: "v9.9.9", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.0"},
			wantText: "v9.9.9 (commit 0123456789ab, go1.26.0)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := versionOf(tc.ldflags, tc.info)
			if tc.info == nil {
				got.GoVersion = "" // the running Go's
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("versionOf (-want +got):\n%s", diff)
			}
			if got.String() != tc.wantText {
				t.Errorf("String() = %q, want %q", got.String(), tc.wantText)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	want := "hoist " + currentVersion().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"version", "-o", "text"}} {
		if got := runCLI(t, nil, "", args...); got != (cli{stdout: want}) {
			t.Errorf("hoist %v = %+v, want stdout %q", args, got, want)
		}
	}
	got := runCLI(t, nil, "", "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(got.stdout), &v); err != nil || got.code != 0 {
		t.Fatalf("hoist version -o json = %+v: %v", got, err)
	}
	if diff := cmp.Diff(currentVersion(), v); diff != "" {
		t.Errorf("hoist version -o json (-want +got):\n%s", diff)
	}
	if got := runCLI(t, nil, "", "version", "-o", "yaml"); got.code != 2 {
		t.Errorf("hoist version -o yaml exited %d, want 2", got.code)
	}
}

// TestInertFlags: a flag that does nothing in the mode chosen is bad usage
// when given on the command line, and a warning when it comes from its
// environment variable (which may be set for other commands).
func TestInertFlags(t *testing.T) {
	const tags = "1.0.0\n6.1.0\n"
	tests := map[string]struct {
		args       []string
		env        map[string]string
		wantCode   int
		wantStderr string
	}{
		"run -o json without --once": {
			args: []string{"run", "-o", "json"}, wantCode: 2,
			wantStderr: "hoist: --output needs --once: the service prints logs, formatted by --log-format\n",
		},
		"run --dry-run without --once": {
			args: []string{"run", "--dry-run"}, wantCode: 2,
			wantStderr: "hoist: --dry-run needs --once\n",
		},
		"run --once --listen": {
			args: []string{"run", "--once", "--listen", "127.0.0.1:0"}, wantCode: 2,
			wantStderr: "hoist: --listen is for the service: with --once, hoist runs each automation once and serves nothing\n",
		},
		"run --once --commit-window": {
			args: []string{"run", "--once", "--commit-window", "1s"}, wantCode: 2,
			wantStderr: "hoist: --commit-window is for the service: with --once, hoist runs each automation once and serves nothing\n",
		},
		"run --once --webhook-max-body": {
			args: []string{"run", "--once", "--webhook-max-body", "10"}, wantCode: 2,
			wantStderr: "hoist: --webhook-max-body is for the service: with --once, hoist runs each automation once and serves nothing\n",
		},
		"run --webhook-max-body 0": {
			args: []string{"run", "--webhook-max-body", "0"}, wantCode: 2,
			wantStderr: "hoist: --webhook-max-body 0: want a positive number of bytes\n",
		},
		"run --once with HOIST_LISTEN warns": {
			args: []string{"run", "--once", "-c", "testdata/no-such-dir"}, env: map[string]string{"HOIST_LISTEN": "127.0.0.1:0"}, wantCode: 2,
			wantStderr: "hoist: warning: ignoring HOIST_LISTEN: --listen is for the service: with --once, hoist runs each automation once and serves nothing\n" +
				"hoist: reading config: stat testdata/no-such-dir: no such file or directory\n",
		},
		"select --name without --policy": {
			args: []string{"select", "--tags", "-", "--semver", "*", "--name", "apps/podinfo"}, wantCode: 2,
			wantStderr: "hoist: --name needs --policy: it names an ImagePolicy of that file\n",
		},
		"select with HOIST_NAME warns": {
			args: []string{"select", "--tags", "-", "--semver", "*"}, env: map[string]string{"HOIST_NAME": "apps/podinfo"},
			wantStderr: "hoist: warning: ignoring HOIST_NAME: --name needs --policy: it names an ImagePolicy of that file\n",
		},
		"select --created without --newest-build": {
			args: []string{"select", "--tags", "-", "--semver", "*", "--created", "created.json"}, wantCode: 2,
			wantStderr: "hoist: --created is for a policy that orders or filters by build time (--newest-build, or a document with newestBuild or minAge): this one does not\n",
		},
		"select with HOIST_CREATED warns": {
			args: []string{"select", "--tags", "-", "--semver", "*"}, env: map[string]string{"HOIST_CREATED": "created.json"},
			wantStderr: "hoist: warning: ignoring HOIST_CREATED: --created is for a policy that orders or filters by build time (--newest-build, or a document with newestBuild or minAge): this one does not\n",
		},
		"select --name with --policy": {
			args: []string{"select", "--tags", "-", "--policy", "testdata/policies.yaml", "--name", "apps/podinfo"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := runCLI(t, tc.env, tags, tc.args...)
			if got.code != tc.wantCode || got.stderr != tc.wantStderr {
				t.Errorf("hoist %v: exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", tc.args, got.code, got.stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

// TestListFromEnv: a repeatable flag's variable is split at commas and
// newlines, never at colons, which image references carry.
func TestListFromEnv(t *testing.T) {
	tests := map[string][]string{
		"apps/podinfo=ghcr.io/stefanprodan/podinfo:6.5.0":                      {"apps/podinfo=ghcr.io/stefanprodan/podinfo:6.5.0"},
		"apps:podinfo=ghcr.io/a/podinfo:6.5.0,apps/web=localhost:5000/web:1.0": {"apps:podinfo=ghcr.io/a/podinfo:6.5.0", "apps/web=localhost:5000/web:1.0"},
		"a=r:1\nb=r:2\n": {"a=r:1", "b=r:2"},
		" a=r:1 , ,\n b=r@sha256:0000000000000000000000000000000000000000000000000000000000000000 ": {"a=r:1", "b=r@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
	}
	for v, want := range tests {
		t.Run(v, func(t *testing.T) {
			cmd := newUpdateCommand()
			if err := flagsFromEnv(cmd.Flags(), func(k string) (string, bool) { return v, k == "HOIST_SET" }); err != nil {
				t.Fatal(err)
			}
			got, err := cmd.Flags().GetStringArray("set")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("--set from HOIST_SET=%q (-want +got):\n%s", v, diff)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestCompletion(t *testing.T) {
	// Each shell's script names the command it completes.
	for shell, want := range map[string]string{
		"bash":       "# bash completion V2 for hoist",
		"zsh":        "#compdef hoist",
		"fish":       "# fish completion for hoist",
		"powershell": "# powershell completion for hoist",
	} {
		t.Run(shell, func(t *testing.T) {
			got := runCLI(t, nil, "", "completion", shell)
			if got.code != 0 || !strings.HasPrefix(got.stdout, want) {
				t.Errorf("hoist completion %s: exit %d, stdout starts %q, want %q (stderr %q)", shell, got.code, head(got.stdout), want, got.stderr)
			}
		})
	}
}

// head is s's first line.
func head(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
