package automation_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// exampleFleet starts a registry holding apps/api:1.0.0 and 2.0.0 and a
// Git server whose fleet.git has api.yaml at apps/api:1.0.0 with a marker,
// and writes a configuration with a policy for the newest apps/api and an
// automation for fleet.git's main branch. It returns the registry, the
// configuration's directory and a state directory.
func exampleFleet(tb *testenv.Example) (reg *testenv.Registry, configDir, stateDir string) {
	reg = testenv.NewRegistry(tb, testenv.RegistryOptions{})
	reg.PushImage(tb, "apps/api", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(tb, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(tb, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(tb, bare, "main")
	testenv.GitCommitFiles(tb, bare, "main", "initial", map[string]string{
		"api.yaml": "image: " + reg.Ref("apps/api", "1.0.0") + ` # {"$imagepolicy": "apps:api"}` + "\n",
	})
	configDir = tb.TempDir()
	doc := fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: '>=1'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
`, reg.Ref("apps/api", ""), gitSrv.RepoURL("fleet.git"))
	if err := os.WriteFile(filepath.Join(configDir, "hoist.yaml"), []byte(doc), 0o600); err != nil {
		tb.Fatal(err)
	}
	return reg, configDir, tb.TempDir()
}

// Run every automation of a configuration once, as hoist run --once does:
// sync each Git repository, scan the policies its automation uses, write,
// commit and push. A second run finds nothing to do.
func ExampleRunner_RunAll() {
	tb := testenv.NewExample("ExampleRunner_RunAll")
	defer tb.Close()
	reg, configDir, stateDir := exampleFleet(tb)

	set, err := config.Load(configDir)
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: stateDir}
	for range 2 {
		for _, res := range runner.RunAll(context.Background(), set) {
			switch {
			case res.Failed():
				fmt.Println(res.Key(), "failed:", res.Err, res.Errors)
			case res.Pushed:
				fmt.Println(res.Key(), "pushed a commit to", res.Branch)
				for _, c := range res.Changes {
					// Without the registry's host:port, which changes.
					fmt.Printf("  %s:%d %s -> %s\n", c.File, c.Line, strings.TrimPrefix(c.Old, reg.Host+"/"), strings.TrimPrefix(c.New, reg.Host+"/"))
				}
			default:
				fmt.Println(res.Key(), "nothing to do")
			}
		}
	}
	// Output:
	// apps/fleet pushed a commit to main
	//   api.yaml:1 apps/api:1.0.0 -> apps/api:2.0.0
	// apps/fleet nothing to do
}

// A caller that already scanned a policy (the service scans each
// ImageRepository on its interval) passes its selections, so that the run
// writes them instead of asking the registry again: here the registry got
// apps/api:3.0.0 after the scan, and the run still writes 2.0.0, the
// selection it was given.
func ExampleRunner_RunKnown() {
	tb := testenv.NewExample("ExampleRunner_RunKnown")
	defer tb.Close()
	reg, configDir, stateDir := exampleFleet(tb)

	set, err := config.Load(configDir)
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	scanner := &automation.Scanner{Registry: client}
	// Keyed by the policy's document: the run reads the configuration
	// again (with the Git repository's own documents), into new
	// config.Policy values that share the documents.
	last := map[*v1alpha1.ImagePolicy]string{}
	for _, sel := range scanner.Scan(context.Background(), set) {
		if p := set.Policy(sel.Namespace, sel.Name); p != nil && sel.Err == nil {
			last[p.ImagePolicy] = sel.Ref
		}
	}
	known := func(p *config.Policy) (string, bool) {
		ref, ok := last[p.ImagePolicy]
		return ref, ok
	}
	reg.PushImage(tb, "apps/api", "3.0.0", testenv.ImageOptions{})

	runner := &automation.Runner{Scanner: scanner, StateDir: stateDir}
	res := runner.RunKnown(context.Background(), set, set.Automations[0], known)
	fmt.Println(res.Key(), "pushed:", res.Pushed, "error:", res.Err)
	for _, c := range res.Changes {
		fmt.Printf("  %s:%d %s -> %s\n", c.File, c.Line, strings.TrimPrefix(c.Old, reg.Host+"/"), strings.TrimPrefix(c.New, reg.Host+"/"))
	}
	// Output:
	// apps/fleet pushed: true error: <nil>
	//   api.yaml:1 apps/api:1.0.0 -> apps/api:2.0.0
}
