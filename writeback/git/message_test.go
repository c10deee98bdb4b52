package git_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var (
	deployment = writeback.Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "podinfo"}
	cronjob    = writeback.Object{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "apps", Name: "Backup"}
)

// sampleChanges are three changes in two files, out of order.
func sampleChanges() []writeback.Change {
	return []writeback.Change{
		{File: "jobs/backup.yaml", Line: 14, Object: cronjob, Field: "spec.jobTemplate.spec.template.spec.containers[name=backup].image",
			Old: "ghcr.io/acme/backup:1.0.0", New: "ghcr.io/acme/backup:1.1.0", Setter: "apps:backup"},
		{File: "apps/podinfo.yaml", Line: 22, Object: deployment, Field: "spec.template.spec.initContainers[name=init].image",
			Old: "ghcr.io/stefanprodan/podinfo:6.0.0", New: "ghcr.io/stefanprodan/podinfo:6.1.0", Setter: "apps:podinfo"},
		{File: "apps/podinfo.yaml", Line: 11, Object: deployment, Field: "spec.template.spec.containers[name=app].image",
			Old: "ghcr.io/stefanprodan/podinfo:6.0.0", New: "ghcr.io/stefanprodan/podinfo:6.1.0", Setter: "apps:podinfo"},
	}
}

// TestRenderMessageGolden renders each testdata/messages/NAME.tmpl with
// sampleChanges and compares with NAME.golden (go test -update rewrites
// them).
func TestRenderMessageGolden(t *testing.T) {
	tmpls, err := filepath.Glob("testdata/messages/*.tmpl")
	if err != nil || len(tmpls) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	data := git.TemplateData{
		AutomationObject: git.NamespacedName{Namespace: "apps", Name: "prod"},
		Changed:          git.NewResult(sampleChanges()),
		Values:           map[string]string{"owner": "Platform Team <platform@example.com>"},
	}
	for _, p := range tmpls {
		name := strings.TrimSuffix(filepath.Base(p), ".tmpl")
		t.Run(name, func(t *testing.T) {
			tmpl, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := git.RenderMessage(string(tmpl), data)
			if err != nil {
				t.Fatalf("RenderMessage: %v", err)
			}
			golden := strings.TrimSuffix(p, ".tmpl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderMessageErrors(t *testing.T) {
	tests := map[string]struct {
		tmpl string
		is   error
		text string
	}{
		"parse error":       {tmpl: "{{ .Changed.Changes", text: "parsing commit message template"},
		"unknown function":  {tmpl: `{{ frobnicate "x" }}`, text: `function "frobnicate" not defined`},
		"environment":       {tmpl: `{{ env "HOIST_GIT_TOKEN" }}`, text: `function "env" not defined`},
		"expandenv":         {tmpl: `{{ expandenv "$HOME" }}`, text: `function "expandenv" not defined`},
		"network":           {tmpl: `{{ getHostByName "example.com" }}`, text: `function "getHostByName" not defined`},
		"unknown field":     {tmpl: "{{ .Updated.Images }}", text: "rendering commit message template"},
		"empty message":     {tmpl: "{{ if false }}x{{ end }}\n\n", is: git.ErrInvalidOptions},
		"bad template call": {tmpl: `{{ trunc "x" "y" }}`, text: "rendering commit message template"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := git.RenderMessage(tc.tmpl, git.TemplateData{Changed: git.NewResult(sampleChanges())})
			if err == nil {
				t.Fatal("RenderMessage succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestTemplateFuncs(t *testing.T) {
	tests := map[string]string{
		`{{ "Hello World" | lower }}`:                                      "hello world",
		`{{ "hello world" | title }}`:                                      "Hello World",
		`{{ "  x  " | trim }}`:                                             "x",
		`{{ "v1.2.3" | trimPrefix "v" }}`:                                  "1.2.3",
		`{{ "a.yaml" | trimSuffix ".yaml" }}`:                              "a",
		`{{ "a-b-c" | replace "-" "_" }}`:                                  "a_b_c",
		`{{ "abcdef" | trunc 3 }}|{{ "abcdef" | trunc -2 }}`:               "abc|ef",
		`{{ "abcdef" | substr 1 3 }}`:                                      "bc",
		`{{ "x" | quote }} {{ "y" | squote }}`:                             `"x" 'y'`,
		`{{ "a\nb" | indent 2 }}`:                                          "  a\n  b",
		`{{ list "b" "a" | sortAlpha | join "," }}`:                        "a,b",
		`{{ "a,b" | splitList "," | last }}`:                               "b",
		`{{ "" | default "d" }}|{{ "v" | default "d" }}`:                   "d|v",
		`{{ coalesce "" "x" }}`:                                            "x",
		`{{ if contains "po" "podinfo" }}yes{{ end }}`:                     "yes",
		`{{ "apps/podinfo.yaml" | base }} {{ "apps/podinfo.yaml" | dir }}`: "podinfo.yaml apps",
		`{{ 3 | toString | repeat 2 }}`:                                    "33",
		// Beyond the functions hoist used to carry: Flux templates use
		// all of sprig.
		`{{ list "b" "a" "b" | uniq | sortAlpha | toJson }}`: `["a","b"]`,
		`{{ dict "k" "v" | keys | first }}`:                  "k",
		`{{ "podinfo" | upper | printf "%s!" }}`:             "PODINFO!",
		`{{ regexReplaceAll "v([0-9]+)" "v12" "$1" }}`:       "12",
		`{{ semverCompare ">=1.2" "1.3.0" }}`:                "true",
		`{{ now | date "2006" | len }}`:                      "4",
	}
	for tmpl, want := range tests {
		t.Run(tmpl, func(t *testing.T) {
			got, err := git.RenderMessage(tmpl, git.TemplateData{})
			if err != nil {
				t.Fatalf("RenderMessage: %v", err)
			}
			if diff := cmp.Diff(want+"\n", got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResultChangesIsSortedAndDoesNotModifyInput(t *testing.T) {
	in := sampleChanges()
	r := git.NewResult(in)
	if diff := cmp.Diff(sampleChanges(), in); diff != "" {
		t.Errorf("NewResult changed its input (-want +got):\n%s", diff)
	}
	var got []string
	for _, c := range r.Changes() {
		got = append(got, c.File+":"+string(rune('0'+c.Line/10))+string(rune('0'+c.Line%10)))
	}
	want := []string{"apps/podinfo.yaml:11", "apps/podinfo.yaml:22", "jobs/backup.yaml:14"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestRenderMessageTooLarge: a template that loops, or calls a function
// that makes a huge value, is stopped at MaxMessageSize with
// ErrMessageTooLarge naming the template and the cap, before it fills
// memory.
func TestRenderMessageTooLarge(t *testing.T) {
	many := make([]writeback.Change, 2000)
	for i := range many {
		many[i] = writeback.Change{File: fmt.Sprintf("apps/app%04d.yaml", i), Old: "ghcr.io/example/app:1.0.0", New: "ghcr.io/example/app:1.0.1", Setter: "apps:app"}
	}
	tests := map[string]struct {
		tmpl string
		data git.TemplateData
	}{
		"range over many changes": {tmpl: "{{ range .Changed.Changes }}{{ .File }}: {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}", data: git.TemplateData{Changed: git.NewResult(many)}},
		"nested ranges":           {tmpl: `{{ range until 1000 }}{{ range until 1000 }}x{{ end }}{{ end }}`},
		"repeat":                  {tmpl: `{{ repeat 1000000000 "x" }}`},
		"repeat in a loop":        {tmpl: `{{ range until 100 }}{{ repeat 1000 "x" }}{{ end }}`},
		"indent":                  {tmpl: `{{ indent 1000000000 "x" }}`},
		"nindent":                 {tmpl: `{{ nindent 1000000000 "x" }}`},
		"until":                   {tmpl: `{{ len (until 1000000000) }}`},
		"untilStep":               {tmpl: `{{ len (untilStep 0 1000000000 1) }}`},
		"seq":                     {tmpl: `{{ seq 1000000000 }}`},
		"randAlphaNum":            {tmpl: `{{ randAlphaNum 1000000000 }}`},
		"randBytes":               {tmpl: `{{ randBytes 1000000000 }}`},
		"doubling with print":     {tmpl: `{{ $s := "xx" }}{{ range until 64 }}{{ $s = print $s $s }}{{ end }}{{ len $s }}`},
		"doubling with printf":    {tmpl: `{{ $s := "xx" }}{{ range until 64 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len $s }}`},
		"doubling with cat":       {tmpl: `{{ $s := "xx" }}{{ range until 64 }}{{ $s = cat $s $s }}{{ end }}{{ len $s }}`},
		"doubling with join":      {tmpl: `{{ $s := "xx" }}{{ range until 64 }}{{ $s = list $s $s | join "" }}{{ end }}{{ len $s }}`},
		"one byte over the cap":   {tmpl: `{{ repeat 65536 "x" }}{{ "y" }}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := git.RenderMessage(tc.tmpl, tc.data)
			if !errors.Is(err, git.ErrMessageTooLarge) {
				t.Fatalf("error %v, want ErrMessageTooLarge", err)
			}
			for _, want := range []string{"commit message template", "65536"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	// Up to the cap renders.
	got, err := git.RenderMessage(`{{ repeat 65535 "x" }}`, git.TemplateData{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != git.MaxMessageSize {
		t.Errorf("rendered %d bytes, want %d", len(got), git.MaxMessageSize)
	}
}
