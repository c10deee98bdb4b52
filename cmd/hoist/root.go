package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hoist",
		Short: "Write new container image references from registries back to Git",
		Long: `hoist watches container registries and writes new image references back to Git.
Policies (semver ranges, globs, regular expressions, ...) pick the newest acceptable
tag of each image; hoist rewrites the image fields in Kubernetes manifests,
Kustomizations and Helm values and commits them, so that Argo CD or Flux deploys them.

It reads Flux's ImageRepository, ImagePolicy and ImageUpdateAutomation documents
(and the same kinds under hoist.dev/v1alpha1), and Flux's $imagepolicy markers.

Every flag that names a file or directory can also be set with an environment
variable HOIST_ + the flag name in upper case (HOIST_STATE_DIR, HOIST_SECRETS_DIR).

Exit status: 0 success (also "nothing to do"), 1 some policy or target failed,
2 bad usage or invalid configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnv(cmd.Flags())
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.AddCommand(
		newSelectCommand(),
		newScanCommand(),
		newUpdateCommand(),
		newReceiversCommand(),
		newRunCommand(),
		newStatusCommand(),
		newValidateCommand(),
		newVersionCommand(),
		newDemoCommand(),
	)
	return root
}

// flagsFromEnv sets each flag the user did not give from HOIST_<FLAG>, as
// docs/cli.md promises (dashes become underscores).
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "HOIST_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			if e := sv.Replace(strings.Split(v, string(os.PathListSeparator))); e != nil {
				err = usage(fmt.Errorf("environment %s=%q: %w", name, v, e))
			}
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usage(fmt.Errorf("environment %s=%q: %w", name, v, e))
		}
	})
	return err
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print hoist's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "hoist", version)
			return err
		},
	}
}
