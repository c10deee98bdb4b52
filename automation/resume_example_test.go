package automation_test

import (
	"context"
	"fmt"
	"log"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry"
)

// A policy's fingerprint changes with what selects (here the range), not
// with the rest of its ImageRepository (here the interval).
func ExampleFingerprint() {
	fingerprint := func(interval, rng string) string {
		set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: ghcr.io/org/api, interval: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: %q}}
`, interval, rng))
		if err != nil {
			log.Fatal(err)
		}
		return automation.Fingerprint(set.Policy("apps", "api"))
	}
	was := fingerprint("5m", ">=1")
	fmt.Println("another interval, same fingerprint:", fingerprint("1h", ">=1") == was)
	fmt.Println("another range, same fingerprint:", fingerprint("5m", ">=2") == was)
	// Output:
	// another interval, same fingerprint: true
	// another range, same fingerprint: false
}

// A new process remembers the selection an earlier one stored (the
// service's state store keeps it with the tag list's sum): its first scan
// of the same tag list answers from it, without selecting.
func ExampleScanner_Remember() {
	tb := testenv.NewExample("ExampleScanner_Remember")
	defer tb.Close()
	_, configDir, _ := exampleFleet(tb)
	set, err := config.Load(configDir)
	if err != nil {
		log.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		log.Fatal(err)
	}
	before := (&automation.Scanner{Registry: client}).Scan(context.Background(), set)[0]

	// The next process.
	scanner := &automation.Scanner{Registry: client}
	scanner.Remember(set.Policy("apps", "api"), before.TagsSum, policy.Result{Tag: before.Tag, Candidates: before.Candidates, Dropped: before.Dropped})
	after := scanner.Scan(context.Background(), set)[0]
	fmt.Println(after.Tag, after.Candidates, after.Err)
	// Output:
	// 2.0.0 2 <nil>
}
