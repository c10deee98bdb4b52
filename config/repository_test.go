package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestLoadOntoFSRepositoryNotifications: with LoadOptions.Repository, the
// Provider and Alert documents of a repository are not read, whatever
// their group and validity, each with a warning naming its file and line;
// the configuration's own stay, and the repository's policies are read.
// Without it they are read (and the invalid one is an error).
func TestLoadOntoFSRepositoryNotifications(t *testing.T) {
	dir := filepath.Join("testdata", "repository-notifications")
	base, err := config.Load(filepath.Join(dir, "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := config.LoadOntoFSWith(base, os.DirFS(filepath.Join(dir, "repo")), "apps", config.LoadOptions{Repository: true})
	if err != nil {
		t.Fatalf("loading the repository: %v", err)
	}
	type warning struct {
		File  string
		Line  int
		Field string
		Msg   string
	}
	var got []warning
	for _, w := range set.Warnings {
		got = append(got, warning{w.File, w.Line, w.Field, w.Message})
	}
	const why = " not read: notifications come from the configuration (or the cluster), never from an automation's Git repository, whose content could choose where hoist sends and with which secret"
	want := []warning{
		{"apps/alerts.yaml", 5, "kind", "Provider apps/hook" + why},
		{"apps/alerts.yaml", 10, "kind", "Provider default/exfil" + why},
		{"apps/alerts.yaml", 15, "kind", "Alert apps/everything" + why},
		{"apps/alerts.yaml", 23, "kind", "Provider apps/rocket" + why},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(set.Providers) != 1 || set.Providers[0].Spec.Address != "https://hooks.example.com/ours" || len(set.Alerts) != 1 || set.Alerts[0].Provider != set.Providers[0] {
		t.Errorf("providers %v, alerts %v: want the configuration's only", set.Providers, set.Alerts)
	}
	if set.Policy("apps", "app") == nil {
		t.Errorf("the repository's policy was not read")
	}

	if _, err := config.LoadOntoFSWith(base, os.DirFS(filepath.Join(dir, "repo")), "apps", config.LoadOptions{}); err == nil {
		t.Errorf("without Repository, the repository's Providers are read: want the redefinition and the unknown field as errors")
	}
}
