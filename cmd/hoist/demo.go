package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/internal/demo"
	"github.com/hoist-dev/hoist/policy"
)

func newDemoCommand() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run hoist's whole loop on an embedded example, on 127.0.0.1",
		Long: `Demo starts a real OCI registry and a real Git server (git http-backend) on
127.0.0.1, pushes a few tags of a generated image, creates a repository with a
Deployment carrying a Flux marker and an ImagePolicy, runs hoist run --once and
shows the commit; then it pushes a newer tag and shows the next commit. Nothing
leaves the machine. It needs git installed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), keep, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's temporary directory and print its path")
	return cmd
}

const demoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: podinfo
          # hoist keeps this image at the newest 6.x release
          image: %s/stefanprodan/podinfo:6.0.0 # {"$imagepolicy": "apps:podinfo"}
          ports:
            - containerPort: 9898
`

const demoPolicy = `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: apps
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: '>=6.0.0 <7.0.0'
`

const demoConfig = `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %[1]s/fleet.git
  ref: {branch: main}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %[2]s/stefanprodan/podinfo
  interval: 5m
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: hoist, email: hoist@example.com}
    push: {branch: main}
  update: {path: ./clusters/prod, strategy: Setters}
`

// runDemo runs the whole loop against local servers.
func runDemo(ctx context.Context, keep bool, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "hoist-demo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(stdout, "demo directory:", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	step := func(format string, a ...any) { fmt.Fprintf(stdout, "\n==> "+format+"\n", a...) }

	srv, err := demo.Start(dir)
	if err != nil {
		return failed(err)
	}
	defer srv.Close()
	step("Started an OCI registry at %s and a Git server at %s", srv.Registry, srv.GitURL)

	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tags := []string{"5.9.0", "6.0.0", "6.1.0", "6.1.1", "7.0.0-rc.1"}
	for i, tag := range tags {
		if _, err := srv.PushImage(ctx, "stefanprodan/podinfo", tag, base.Add(time.Duration(i)*time.Hour)); err != nil {
			return failed(err)
		}
	}
	step("Pushed stefanprodan/podinfo with tags %v", tags)

	if err := srv.CreateRepo("fleet.git", map[string]string{
		"clusters/prod/podinfo.yaml":  fmt.Sprintf(demoDeployment, srv.Registry),
		"clusters/prod/policies.yaml": demoPolicy,
	}); err != nil {
		return failed(err)
	}
	step("Created the Git repository fleet.git: a Deployment at 6.0.0 with a marker, and an ImagePolicy for 6.x")
	fmt.Fprintf(stdout, "%s", fmt.Sprintf(demoDeployment, srv.Registry))

	cfgDir := filepath.Join(dir, "config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "automation.yaml"), []byte(fmt.Sprintf(demoConfig, srv.GitURL, srv.Registry)), 0o644); err != nil {
		return err
	}
	state := filepath.Join(dir, "state")
	o := runOptions{configs: []string{cfgDir}, once: true, output: "text", logFormat: "text", logLevel: "info"}
	o.reg = registryFlags{stateDir: state, secretsDir: filepath.Join(dir, "secrets"), rateLimit: 50, maxConns: 4}

	explainDemoSelection(stdout, tags)
	step("hoist run --once -c %s", cfgDir)
	if err := runOnce(ctx, o, stdout, stderr); err != nil {
		return err
	}
	if err := showLastCommit(stdout, srv); err != nil {
		return err
	}

	if _, err := srv.PushImage(ctx, "stefanprodan/podinfo", "6.2.0", base.Add(24*time.Hour)); err != nil {
		return failed(err)
	}
	step("Pushed a newer release, 6.2.0, and ran hoist run --once again")
	if err := runOnce(ctx, o, stdout, stderr); err != nil {
		return err
	}
	if err := showLastCommit(stdout, srv); err != nil {
		return err
	}
	step("A run with nothing new changes nothing")
	if err := runOnce(ctx, o, stdout, stderr); err != nil {
		return err
	}
	return nil
}

func showLastCommit(stdout io.Writer, srv *demo.Servers) error {
	out, err := demo.Git(srv.BareDir("fleet.git"), "log", "-p", "-1", "--no-color", "main")
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(stdout, "\n$ git log -p -1\n%s", out)
	return nil
}

// explainDemoSelection shows why the policy picks what it picks.
func explainDemoSelection(w io.Writer, tags []string) {
	p := policy.MustCompile(policy.Spec{Exclude: policy.DefaultExclusionList, Semver: &policy.SemverSpec{Range: ">=6.0.0 <7.0.0", Strict: true}})
	res, err := p.Select(tags, policy.Options{Explain: true})
	if err != nil {
		return
	}
	fmt.Fprintf(w, "\n==> The policy semver '>=6.0.0 <7.0.0' over the registry's tags:\n")
	for _, v := range res.Explain {
		if v.Rank > 0 {
			fmt.Fprintf(w, "    %-12s rank %d\n", v.Tag, v.Rank)
		} else {
			fmt.Fprintf(w, "    %-12s dropped: %s\n", v.Tag, v.Dropped)
		}
	}
}
