package config_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/valid")

// summary is what a golden file records of a Set.
type summary struct {
	Repositories    []objectSummary `json:"repositories,omitempty"`
	Policies        []objectSummary `json:"policies,omitempty"`
	Automations     []objectSummary `json:"automations,omitempty"`
	GitRepositories []objectSummary `json:"gitRepositories,omitempty"`
	Receivers       []objectSummary `json:"receivers,omitempty"`
	Providers       []objectSummary `json:"providers,omitempty"`
	Alerts          []objectSummary `json:"alerts,omitempty"`
	Warnings        []string        `json:"warnings,omitempty"`
}

type objectSummary struct {
	Source string `json:"source"`
	// Policies
	Repository string       `json:"repository,omitempty"`
	Rule       string       `json:"rule,omitempty"`
	PolicySpec *specSummary `json:"policySpec,omitempty"`
	// Alerts
	Provider string `json:"provider,omitempty"`
	// Automations
	GitRepository string   `json:"gitRepository,omitempty"`
	Applies       []string `json:"applies,omitempty"`
	ArgoCD        any      `json:"argocd,omitempty"`

	Object any `json:"object"`
}

type specSummary struct {
	Exclude   []string `json:"exclude"`
	Pattern   string   `json:"pattern,omitempty"`
	Extract   string   `json:"extract,omitempty"`
	Glob      string   `json:"glob,omitempty"`
	Range     string   `json:"range,omitempty"`
	Strict    bool     `json:"strict,omitempty"`
	Order     string   `json:"order,omitempty"`
	DigestTag string   `json:"digestTag,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	MinAge    string   `json:"minAge,omitempty"`
	Verify    bool     `json:"verify,omitempty"`
}

func source(s config.Source) string {
	out := fmt.Sprintf("%s:%d %s", filepath.ToSlash(s.File), s.Line, s.APIVersion)
	if s.Flux {
		out += " (Flux)"
	}
	return out
}

func summarizeSpec(s policy.Spec) *specSummary {
	out := &specSummary{Exclude: s.Exclude, Pattern: s.Pattern, Extract: s.Extract, Glob: s.Glob, Platforms: s.Platforms}
	switch {
	case s.Semver != nil:
		out.Range, out.Strict = s.Semver.Range, s.Semver.Strict
	case s.Alphabetical != nil:
		out.Order = string(s.Alphabetical.Order)
	case s.Numerical != nil:
		out.Order = string(s.Numerical.Order)
	case s.Digest != nil:
		out.DigestTag = s.Digest.Tag
	}
	if s.MinAge != 0 {
		out.MinAge = s.MinAge.String()
	}
	out.Verify = s.Verify
	return out
}

func summarize(t *testing.T, s *config.Set) summary {
	t.Helper()
	var out summary
	for _, o := range s.Repositories {
		out.Repositories = append(out.Repositories, objectSummary{Source: source(o.Source), Object: o.ImageRepository})
	}
	for _, o := range s.Policies {
		os := objectSummary{Source: source(o.Source), Object: o.ImagePolicy, Rule: string(o.Compiled.Rule()),
			PolicySpec: summarizeSpec(o.Compiled.Spec())}
		if o.Repository != nil {
			os.Repository = o.Repository.Namespace + "/" + o.Repository.Name
		}
		out.Policies = append(out.Policies, os)
	}
	for _, o := range s.Automations {
		os := objectSummary{Source: source(o.Source), Object: o.ImageUpdateAutomation}
		if o.ArgoCD != nil {
			os.ArgoCD = o.ArgoCD
		}
		if o.GitRepository != nil {
			os.GitRepository = o.GitRepository.Namespace + "/" + o.GitRepository.Name
		}
		ps, err := s.PoliciesFor(o)
		if err != nil {
			t.Fatalf("PoliciesFor(%s): %v", o.Name, err)
		}
		for _, p := range ps {
			os.Applies = append(os.Applies, p.Namespace+"/"+p.Name)
		}
		out.Automations = append(out.Automations, os)
	}
	for _, o := range s.GitRepositories {
		out.GitRepositories = append(out.GitRepositories, objectSummary{Source: source(o.Source), Object: o.GitRepository})
	}
	for _, o := range s.Receivers {
		out.Receivers = append(out.Receivers, objectSummary{Source: source(o.Source), Object: o.Receiver})
	}
	for _, o := range s.Providers {
		out.Providers = append(out.Providers, objectSummary{Source: source(o.Source), Object: o.Provider})
	}
	for _, o := range s.Alerts {
		os := objectSummary{Source: source(o.Source), Object: o.Alert}
		if o.Provider != nil {
			os.Provider = o.Provider.Namespace + "/" + o.Provider.Name
		}
		out.Alerts = append(out.Alerts, os)
	}
	for _, w := range s.Warnings {
		out.Warnings = append(out.Warnings, w.String())
	}
	return out
}

// TestParseValid decodes each file of testdata/valid and compares what it
// yields with NAME.golden (go test -update rewrites them).
func TestParseValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			set, err := config.Parse(file, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := yaml.Marshal(summarize(t, set))
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", file, diff)
			}
		})
	}
}
