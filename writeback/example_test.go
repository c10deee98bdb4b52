package writeback_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/hoist-dev/hoist/writeback"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
  annotations:
    hoist.dev/policy.sidecar: semver:~1.4
spec:
  template:
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.4.0 # {"$imagepolicy": "apps:podinfo"}
      - name: sidecar
        image: "ghcr.io/example/sidecar:1.4.0"
`

// Scan finds a marker target and an annotated container. The annotated
// container's policy is inline: the caller scans Inline.Repository with
// Inline.Shorthand and selects under the target's policy key.
func ExampleScan() {
	res := writeback.Scan([]writeback.File{{Path: "deploy.yaml", Data: []byte(deployment)}})
	for _, t := range res.Targets {
		fmt.Printf("%s:%d:%d %s %s = %s\n", t.File, t.Line, t.Column, t.Field, t.Part, t.Value)
		fmt.Printf("  policy %s\n", t.PolicyKey())
		if t.Inline != nil {
			fmt.Printf("  scan %s with %q (from %s)\n", t.Inline.Repository, t.Inline.Shorthand, t.Inline.Annotation)
		}
	}
	// Output:
	// deploy.yaml:13:16 spec.template.spec.containers[name=podinfo].image full = ghcr.io/stefanprodan/podinfo:6.4.0
	//   policy apps:podinfo
	// deploy.yaml:15:16 spec.template.spec.containers[name=sidecar].image full = ghcr.io/example/sidecar:1.4.0
	//   policy inline:ghcr.io/example/sidecar:1.4.0#semver:~1.4
	//   scan ghcr.io/example/sidecar with "semver:~1.4" (from hoist.dev/policy.sidecar)
}

// Plan turns targets and selections into changes, then Apply splices them
// into the file's bytes; the quoting of each value is kept.
func ExamplePlan() {
	data := []byte(deployment)
	res := writeback.Scan([]writeback.File{{Path: "deploy.yaml", Data: data}})
	cs := writeback.Plan(res.Targets, writeback.Selections{
		"apps:podinfo": {Ref: "ghcr.io/stefanprodan/podinfo:6.5.0"},
		"inline:ghcr.io/example/sidecar:1.4.0#semver:~1.4": {Ref: "ghcr.io/example/sidecar:1.4.2"},
	})
	for _, c := range cs.Changes {
		fmt.Printf("%s:%d %s: %s -> %s\n", c.File, c.Line, c.Policy, c.Old, c.New)
	}
	out, err := writeback.Apply(data, cs.Changes)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(writeback.Diff("deploy.yaml", data, out))
	// Output:
	// deploy.yaml:13 apps:podinfo: ghcr.io/stefanprodan/podinfo:6.4.0 -> ghcr.io/stefanprodan/podinfo:6.5.0
	// deploy.yaml:15 inline:ghcr.io/example/sidecar:1.4.0#semver:~1.4: ghcr.io/example/sidecar:1.4.0 -> ghcr.io/example/sidecar:1.4.2
	// --- a/deploy.yaml
	// +++ b/deploy.yaml
	// @@ -10,6 +10,6 @@
	//      spec:
	//        containers:
	//        - name: podinfo
	// -        image: ghcr.io/stefanprodan/podinfo:6.4.0 # {"$imagepolicy": "apps:podinfo"}
	// +        image: ghcr.io/stefanprodan/podinfo:6.5.0 # {"$imagepolicy": "apps:podinfo"}
	//        - name: sidecar
	// -        image: "ghcr.io/example/sidecar:1.4.0"
	// +        image: "ghcr.io/example/sidecar:1.4.2"
}

// Plan refuses a marker that names no known policy, and a value that is not
// a valid reference; their files are left untouched.
func ExamplePlan_refused() {
	res := writeback.Scan([]writeback.File{{Path: "values.yaml", Data: []byte(
		"image:\n  repository: ghcr.io/a/b # {\"$imagepolicy\": \"apps:b:name\"}\n  tag: v1 # {\"$imagepolicy\": \"apps:typo:tag\"}\n")}})
	cs := writeback.Plan(res.Targets, writeback.Selections{"apps:b": {Ref: "ghcr.io/a/b:v2"}})
	fmt.Println(len(cs.Changes), "changes")
	for _, e := range cs.Errors {
		fmt.Println(e)
	}
	// Output:
	// 0 changes
	// values.yaml:3: image.tag: policy "apps:typo": unknown policy
}

// ScanDir reads a tree, Write writes the planned changes back (through a
// temporary file and a rename, keeping each file's mode).
func ExampleWrite() {
	root, err := os.MkdirTemp("", "hoist-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	if err := os.WriteFile(filepath.Join(root, "deploy.yaml"), []byte(deployment), 0o644); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res, err := writeback.ScanDir(ctx, root, writeback.ScanOptions{})
	if err != nil {
		log.Fatal(err)
	}
	cs := writeback.Plan(res.Targets, writeback.Selections{
		"apps:podinfo": {Ref: "ghcr.io/stefanprodan/podinfo:6.5.0"},
		"inline:ghcr.io/example/sidecar:1.4.0#semver:~1.4": {Ref: ""}, // nothing selected this time
	})
	results, err := writeback.Write(ctx, root, cs)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.Path, len(r.Changes), "change(s), error:", r.Err)
	}
	// Output:
	// deploy.yaml 1 change(s), error: <nil>
}

// An Index kept between runs re-reads only the files that hold targets
// (Refresh) or those whose size or modification time changed (Scan).
func ExampleIndex() {
	root, err := os.MkdirTemp("", "hoist-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	for i, data := range []string{deployment, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n"} {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%d.yaml", i)), []byte(data), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	ctx := context.Background()
	idx := writeback.NewIndex(root, writeback.ScanOptions{})
	res, err := idx.Scan(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cold: %d targets, %d files read\n", len(res.Targets), res.Stats.Read)
	res, err = idx.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("warm: %d targets, %d files read\n", len(res.Targets), res.Stats.Read)
	// Output:
	// cold: 2 targets, 2 files read
	// warm: 2 targets, 0 files read
}
