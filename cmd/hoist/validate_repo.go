package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback/git"
)

// repositoryNotificationWarnings warn of each Provider and Alert of set
// that lies in the Git working tree of an automation of set (one of the
// tree's remotes is the automation's Git URL), under its update path:
// hoist run does not read such a document from the automation's
// repository (see docs/notifications.md). validate reads it here as
// configuration, as it was given.
func repositoryNotificationWarnings(set *config.Set) []config.Warning {
	type tree struct {
		root    string
		remotes []string
		ok      bool
	}
	trees := map[string]tree{} // by the directory of a file
	treeOf := func(file string) tree {
		dir := filepath.Dir(file)
		if t, seen := trees[dir]; seen {
			return t
		}
		var t tree
		var err error
		t.root, t.remotes, t.ok, err = git.WorkTree(dir)
		t.ok = t.ok && err == nil
		trees[dir] = t
		return t
	}
	check := func(kind, ns, name string, src config.Source) *config.Warning {
		t := treeOf(src.File)
		if !t.ok {
			return nil
		}
		abs, err := filepath.Abs(src.File)
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(t.root, abs)
		if err != nil {
			return nil
		}
		rel = filepath.ToSlash(rel)
		for _, a := range set.Automations {
			url := automationURL(a)
			if url == "" || !remoteOf(t.remotes, url) {
				continue
			}
			up := config.DefaultPath
			if a.Spec.Update != nil && a.Spec.Update.Path != "" {
				up = a.Spec.Update.Path
			}
			p := path.Clean(strings.TrimPrefix(filepath.ToSlash(up), "/"))
			if p != "." && rel != p && !strings.HasPrefix(rel, p+"/") {
				continue
			}
			return &config.Warning{File: src.File, Line: src.Line, Field: "kind", Message: fmt.Sprintf(
				"%s %s/%s lies under the update path %s of automation %s/%s in its Git repository, where hoist run does not read it (a repository may not choose where hoist sends notifications); read here as configuration",
				kind, ns, name, up, a.Namespace, a.Name)}
		}
		return nil
	}
	var out []config.Warning
	for _, p := range set.Providers {
		if w := check("Provider", p.Namespace, p.Name, p.Source); w != nil {
			out = append(out, *w)
		}
	}
	for _, a := range set.Alerts {
		if w := check("Alert", a.Namespace, a.Name, a.Source); w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// automationURL is the Git URL an automation clones, or "".
func automationURL(a *config.Automation) string {
	if g := a.Spec.Git; g != nil && g.URL != "" {
		return g.URL
	}
	if a.GitRepository != nil {
		return a.GitRepository.Spec.URL
	}
	return ""
}

func remoteOf(remotes []string, url string) bool {
	for _, r := range remotes {
		if git.SameRepository(r, url) {
			return true
		}
	}
	return false
}
