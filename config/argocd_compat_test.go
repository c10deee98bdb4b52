package config_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
)

// TestArgoCDSelectionCompatibility lists Argo CD Image Updater's documented
// answers (docs/basics/update-strategies.md of Image Updater) next to
// hoist's, for the same image-list entry, strategy, allow-tags and
// ignore-tags. Cases marked (diff) are the deliberate differences that
// docs/compatibility.md lists.
func TestArgoCDSelectionCompatibility(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	created := map[string]time.Time{"main-a1": day(1), "main-b2": day(3), "main-c3": day(2), "feature-x": day(4)}
	tests := map[string]struct {
		image, strategy, allow, ignore string
		tags                           []string
		argo                           string // Image Updater's answer
		want                           string // hoist's
	}{
		"semver tilde":                         {"app:~1.2", "semver", "", "", []string{"1.2.0", "1.2.7", "1.3.0"}, "1.2.7", "1.2.7"},
		"semver x range":                       {"app:1.x", "", "", "", []string{"1.2.0", "1.10.1", "2.0.0"}, "1.10.1", "1.10.1"},
		"semver caret, v prefix":               {"app:^1.0", "semver", "", "", []string{"v1.0.0", "v1.4.2", "v2.0.0"}, "v1.4.2", "v1.4.2"},
		"semver range with spaces":             {"app:>=1.0 <1.5", "semver", "", "", []string{"1.4.9", "1.5.0"}, "1.4.9", "1.4.9"},
		"semver not a version skipped":         {"app:1.x", "semver", "", "", []string{"latest", "1.1.0", "stable"}, "1.1.0", "1.1.0"},
		"semver pre-release by constraint":     {"app:>=1.0.0-0", "semver", "", "", []string{"1.0.0", "1.1.0-rc.1"}, "1.1.0-rc.1", "1.1.0-rc.1"},
		"semver pre-release not in constraint": {"app:1.x", "semver", "", "", []string{"1.0.0", "1.1.0-rc.1"}, "1.0.0", "1.0.0"},
		"semver empty constraint":              {"app", "semver", "", "", []string{"1.9.0", "1.10.0"}, "1.10.0", "1.10.0"},
		// Image Updater compares every version without a constraint,
		// pre-releases included; hoist: any release.
		"semver empty constraint, pre-release (diff)": {"app", "semver", "", "", []string{"1.9.0", "1.10.0-rc.1"}, "1.10.0-rc.1", "1.9.0"},
		// A date tag parses as the version 20240101.0.0 and wins in Image
		// Updater; hoist drops bare numbers under an empty constraint.
		"semver empty constraint, date tag (diff)": {"app", "semver", "", "", []string{"1.10.0", "20240101"}, "20240101", "1.10.0"},
		"semver date tag named by constraint":      {"app:>=20240000", "semver", "", "", []string{"1.10.0", "20240101"}, "20240101", "20240101"},
		"allow-tags regexp":                        {"app:1.x", "semver", "regexp:^1\\.[0-9]+\\.[0-9]+$", "", []string{"1.2.0", "1.3.0-alpine"}, "1.2.0", "1.2.0"},
		"allow-tags any":                           {"app", "alphabetical", "any", "", []string{"a", "b"}, "b", "b"},
		"ignore-tags globs":                        {"app:1.x", "semver", "", "*-alpine, 1.3.?", []string{"1.2.0", "1.3.1", "1.2.5-alpine"}, "1.2.0", "1.2.0"},
		"alphabetical":                             {"app", "alphabetical", "", "", []string{"2024-01-10", "2024-02-01", "2023-12-31"}, "2024-02-01", "2024-02-01"},
		"name (old name of alphabetical)":          {"app", "name", "", "", []string{"b", "c", "a"}, "c", "c"},
		"alphabetical is not numerical":            {"app", "alphabetical", "", "", []string{"9", "10"}, "9", "9"},
		"newest-build":                             {"app", "newest-build", "regexp:^main-", "", []string{"main-a1", "main-b2", "main-c3", "feature-x"}, "main-b2", "main-b2"},
		"latest (old name of newest-build)":        {"app", "latest", "", "feature-*", []string{"main-a1", "main-b2", "feature-x"}, "main-b2", "main-b2"},
		"digest follows the tag":                   {"app:stable", "digest", "", "", []string{"stable", "1.0.0"}, "stable", "stable"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := config.ArgoAnnotationPrefix
			ann := map[string]string{p + "image-list": "app=ghcr.io/acme/" + tc.image, p + "write-back-method": "git"}
			if tc.strategy != "" {
				ann[p+"app.update-strategy"] = tc.strategy
			}
			if tc.allow != "" {
				ann[p+"app.allow-tags"] = tc.allow
			}
			if tc.ignore != "" {
				ann[p+"app.ignore-tags"] = tc.ignore
			}
			keys := make([]string, 0, len(ann))
			for k := range ann {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			b.WriteString("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: a\n  annotations:\n")
			for _, k := range keys {
				fmt.Fprintf(&b, "    %s: %q\n", k, ann[k])
			}
			b.WriteString("spec:\n  source: {repoURL: https://git.example.com/r.git, targetRevision: main, path: .}\n")
			set, err := config.Parse("app.yaml", []byte(b.String()))
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			if len(set.Policies) != 1 {
				t.Fatalf("%d policies", len(set.Policies))
			}
			pol := set.Policies[0].Compiled
			res, err := pol.Select(tc.tags, policy.Options{Facts: func(tag string, need policy.Need) (policy.Facts, error) {
				return policy.Facts{Created: created[tag], Digest: "sha256:" + strings.Repeat("a", 64)}, nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tc.want {
				t.Errorf("hoist selected %q, want %q (Image Updater: %q)", res.Tag, tc.want, tc.argo)
			}
		})
	}
}
