package automation_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/registry"
)

// Run every automation of a configuration once, as hoist run --once does:
// sync each Git repository, scan the policies its automation uses, write,
// commit and push.
func ExampleRunner_RunAll() {
	set, err := config.Load("clusters/prod")
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: "/var/lib/hoist"}
	for _, res := range runner.RunAll(context.Background(), set) {
		switch {
		case res.Failed():
			fmt.Println(res.Key(), "failed:", res.Err, res.Errors)
		case res.Pushed:
			fmt.Println(res.Key(), "pushed", res.Commit, "to", res.Branch)
		default:
			fmt.Println(res.Key(), "nothing to do")
		}
	}
}

// A caller that already scanned a policy (the service scans each
// ImageRepository on its interval) passes its selections, so that the run
// writes them instead of asking the registry again.
func ExampleRunner_RunKnown() {
	set, err := config.Load("clusters/prod")
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
	runner := &automation.Runner{Scanner: scanner, StateDir: "/var/lib/hoist"}
	res := runner.RunKnown(context.Background(), set, set.Automations[0], known)
	fmt.Println(res.Key(), res.Pushed, res.Err)
}
