package main

import (
	"github.com/spf13/cobra"
)

func newValidateCommand() *cobra.Command {
	var configs []string
	cmd := &cobra.Command{
		Use:   "validate [-c FILE|DIR]... [DIR]",
		Short: "Check policy documents and print every error",
		Long: `Validate loads every ImageRepository, ImagePolicy, ImageUpdateAutomation,
GitRepository and Receiver document (hoist.dev/v1alpha1 and Flux's groups) from the
files and directories given with -c and as arguments, and prints every error with
its file, line and field. Documents of other kinds are skipped.

Exit status: 0 valid, 2 at least one error.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(append(configs, args...), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "file or directory of documents (repeatable)")
	return cmd
}
