package main

import (
	"github.com/spf13/cobra"
)

func newValidateCommand() *cobra.Command {
	var (
		configs []string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "validate [-c FILE|DIR]... [FILE|DIR]... [-o text|json]",
		Short: "Check policy documents and print every error",
		Long: `Validate loads every ImageRepository, ImagePolicy, ImageUpdateAutomation,
GitRepository and Receiver document (hoist.dev/v1alpha1 and Flux's groups) from the
files and directories given with -c and as arguments (with neither, from the
current directory, .), and prints every error, or every warning, with its file,
line and field, all on stdout. Documents of other kinds are skipped, and so are
files that are not YAML (in a directory: *.yaml and *.yml files are read).
When the documents are valid it says how many objects of each kind it read.

Exit status: 0 valid (warnings allowed), 2 at least one error.`,
		Example: `  hoist validate
  hoist validate clusters/prod -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(append(configs, args...), output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "file or directory of documents (repeatable; default .)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
