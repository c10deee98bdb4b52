package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/service"
)

// chanSource is a Source of in-memory documents, as the Kubernetes
// controller's will be: the first set, then each set sent on next.
type chanSource struct {
	first *config.Set
	next  chan *config.Set
}

func (s *chanSource) Load() (*config.Set, error) { return s.first, nil }

func (s *chanSource) Run(ctx context.Context, apply func(*config.Set)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case set := <-s.next:
			apply(set)
		}
	}
}

// chanObserver passes what the service reports on to the test.
type chanObserver struct {
	scans chan []automation.Selection
	runs  chan automation.RunResult
}

func (o chanObserver) Scanned(_ string, sels []automation.Selection) { o.scans <- sels }
func (o chanObserver) Ran(res automation.RunResult)                  { o.runs <- res }

// TestServiceSourceAndObserver drives the loop through the service's seam
// for other drivers: documents from a Source instead of files, results to
// an Observer. A real registry and Git server on 127.0.0.1; the test waits
// on the observer's reports.
func TestServiceSourceAndObserver(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/app", d, "1.1.0", "2.0.0")
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"app.yaml": fmt.Sprintf("image: %s # {\"$imagepolicy\": \"apps:app\"}\n", reg.Ref("apps/app", "1.0.0")),
	})
	docs := func(rng string) *config.Set {
		t.Helper()
		set, err := config.Parse("api-server", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s, interval: 1h}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: %q}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  interval: 1h
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
`, reg.Ref("apps/app", ""), rng, gitSrv.RepoURL("fleet.git")))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}

	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	src := &chanSource{first: docs("^1"), next: make(chan *config.Set)}
	obs := chanObserver{scans: make(chan []automation.Selection, 16), runs: make(chan automation.RunResult, 16)}
	svc, err := service.NewService(service.ServiceOptions{
		Runner:        &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: t.TempDir()},
		Source:        src,
		Observer:      obs,
		Registry:      prometheus.NewRegistry(),
		Window:        -1,
		StartupSpread: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// The deadline only turns a hang into a failure.
	wait := func(what string) (sels []automation.Selection, res automation.RunResult) {
		t.Helper()
		select {
		case sels = <-obs.scans:
		case res = <-obs.runs:
		case <-time.After(time.Minute):
			t.Fatalf("no report of %s", what)
		}
		return sels, res
	}
	// Scanned, then Ran with the push, for each set the source delivers.
	for _, step := range []struct{ rng, tag string }{{"^1", "1.1.0"}, {"^2", "2.0.0"}} {
		if step.rng != "^1" {
			src.next <- docs(step.rng)
		}
		want := reg.Ref("apps/app", step.tag)
		var scanned, pushed bool
		for !scanned || !pushed {
			sels, res := wait("the scan and the run of " + step.rng)
			if len(sels) == 1 && sels[0].Err == nil && sels[0].Ref == want {
				scanned = true
			}
			if res.Name != "" {
				if res.Failed() {
					t.Fatalf("run failed: %v %v", res.Err, res.Errors)
				}
				if res.Pushed && len(res.Changes) == 1 && res.Changes[0].New == want {
					pushed = true
				}
			}
		}
		if got := testenv.GitCLI(t, bare, "show", "main:app.yaml"); got != fmt.Sprintf("image: %s # {\"$imagepolicy\": \"apps:app\"}\n", want) {
			t.Errorf("app.yaml on main after %s:\n%s", step.rng, got)
		}
	}
}
