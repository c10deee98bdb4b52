package main

import (
	"io"

	"github.com/spf13/cobra"
)

// newRootCommand builds hoist's commands, writing to stdout and stderr and
// reading HOIST_* variables through lookupEnv (os.LookupEnv in main).
func newRootCommand(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *cobra.Command {
	root := &cobra.Command{
		Use:   "hoist",
		Short: "Write new container image references from registries back to Git",
		Long: `hoist watches container registries and writes new image references back to Git.
Policies (semver ranges, globs, regular expressions, ...) pick the newest acceptable
tag of each image; hoist rewrites the image fields in Kubernetes manifests,
Kustomizations and Helm values and commits them, so that Argo CD or Flux deploys them.

It reads Flux's ImageRepository, ImagePolicy and ImageUpdateAutomation documents
(and the same kinds under hoist.dev/v1alpha1), and Flux's $imagepolicy markers.

Every flag can also be set with an environment variable HOIST_ + the flag name in
upper case, dashes as underscores (HOIST_STATE_DIR, HOIST_SECRETS_DIR); a flag on
the command line wins. A repeatable flag's variable holds a list separated by
commas or newlines: HOIST_SET=apps/web=ghcr.io/org/web:1.2.0,apps/api=ghcr.io/org/api:2.0.1.
A flag that does nothing in the mode chosen is an error on the command line, and
ignored with a warning when it comes from its variable.

Exit status: 0 success (also "nothing to do"), 1 some policy or target failed,
2 bad usage or invalid configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd.Flags(), lookupEnv)
		},
	}
	root.Version = currentVersion().String()
	root.SetVersionTemplate("hoist {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.AddCommand(
		newSelectCommand(),
		newScanCommand(),
		newUpdateCommand(),
		newReceiversCommand(),
		newRunCommand(),
		newControllerCommand(),
		newStatusCommand(),
		newValidateCommand(),
		newVersionCommand(),
		newDemoCommand(),
	)
	return root
}
