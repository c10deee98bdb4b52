package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/registry/webhook"
)

func newReceiversCommand() *cobra.Command {
	var (
		configs []string
		reg     registryFlags
	)
	cmd := &cobra.Command{
		Use:   "receivers [-c FILE|DIR]...",
		Short: "Print the URL path of each webhook receiver",
		Long: `Receivers loads Receiver documents (hoist.dev/v1alpha1 and Flux's
notification.toolkit.fluxcd.io) and prints the URL path each one is served at:
/hook/ + the hex SHA-256 of token + name + namespace, as Flux computes it, so a
registry configured for Flux's receiver works unchanged. The token is read from
--secrets-dir/SECRET/token, SECRET being the receiver's secretRef.

Exit status: 0 every receiver has a path, 1 some token could not be read,
2 invalid configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReceivers(configs, reg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "file or directory of documents (repeatable; default .)")
	reg.register(cmd.Flags())
	return cmd
}

func runReceivers(configs []string, reg registryFlags, stdout, stderr io.Writer) error {
	if len(configs) == 0 {
		configs = []string{"."}
	}
	set, err := loadConfig(configs, stderr)
	if err != nil {
		return err
	}
	secrets := reg.secretsDir
	if secrets == "" {
		state, err := reg.resolveStateDir()
		if err != nil {
			return usage(err)
		}
		secrets = filepath.Join(state, "secrets")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVER\tTYPE\tPATH")
	failures := 0
	for _, r := range set.Receivers {
		token, err := webhook.ReadToken(secrets, r.Spec.SecretRef.Name)
		if err != nil {
			failures++
			fmt.Fprintf(tw, "%s/%s\t%s\t(error: %v)\n", r.Namespace, r.Name, r.Spec.Type, err)
			continue
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\n", r.Namespace, r.Name, r.Spec.Type, webhook.Path(token, r.Name, r.Namespace))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failures > 0 {
		return failed(fmt.Errorf("%d receivers have no readable token", failures))
	}
	return nil
}
