package service_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/service"
)

// TestServiceForgetsRemovedObjects: when a reload removes an automation or
// an image repository, its per-object gauges (last success, stale) leave
// /metrics; those of the objects that stay are kept. Regression test: the
// automation's last-success gauge used to stay for good.
func TestServiceForgetsRemovedObjects(t *testing.T) {
	automationDoc := func(name string) string {
		return `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: ` + name + `, namespace: apps}
spec:
  git:
    url: https://git.example.com/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
  update: {path: ./}
`
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(repoDoc("web") + "---\n" + repoDoc("api") + automationDoc("prod") + automationDoc("staging"))

	reg := prometheus.NewRegistry()
	m, err := automation.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewService(service.ServiceOptions{
		Runner:      &automation.Runner{Scanner: &automation.Scanner{}, StateDir: t.TempDir()},
		ConfigPaths: []string{path}, Registry: reg, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	// What runs and scans record (the service's own calls).
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m.LastSuccess("apps/prod", now)
	m.LastSuccess("apps/staging", now)
	m.Stale("apps/web", false)
	m.Stale("apps/api", true)

	write(repoDoc("web") + automationDoc("prod"))
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`hoist_automation_last_success_timestamp_seconds{automation="apps/prod"}`,
		`hoist_registry_stale{repository="apps/web"}`,
	}
	if diff := cmp.Diff(want, gaugeSeries(t, reg, "hoist_automation_last_success_timestamp_seconds", "hoist_registry_stale")); diff != "" {
		t.Errorf("series after the reload (-want +got):\n%s", diff)
	}
}

// gaugeSeries returns the series of the named metrics in reg, as
// NAME{LABEL="VALUE",...}, sorted.
func gaugeSeries(t *testing.T, reg *prometheus.Registry, names ...string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if !contains(names, f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			out = append(out, f.GetName()+"{"+strings.Join(labels, ",")+"}")
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
