package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry/webhook"
)

func newReceiversCommand() *cobra.Command {
	var (
		configs []string
		output  string
		reg     registryFlags
	)
	cmd := &cobra.Command{
		Use:   "receivers [-c FILE|DIR]... [-o table|json]",
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
			return runReceivers(configs, reg, output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "file or directory of documents (repeatable; default .)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	reg.registerDirs(cmd.Flags())
	return cmd
}

type receiversJSON struct {
	Receivers []receiverJSON `json:"receivers"`
}

type receiverJSON struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Path      string `json:"path,omitempty"`
	Error     string `json:"error,omitempty"`
}

func runReceivers(configs []string, reg registryFlags, output string, stdout, stderr io.Writer) error {
	if output != "table" && output != "json" {
		return usage(fmt.Errorf("--output %q: want table or json", output))
	}
	if len(configs) == 0 {
		configs = []string{"."}
	}
	set, err := loadConfig(configs, stderr)
	if err != nil {
		return err
	}
	secrets, err := automation.Options{StateDir: reg.stateDir, SecretsDir: reg.secretsDir}.ResolveSecretsDir()
	if err != nil {
		return usage(err)
	}
	out := receiversJSON{Receivers: []receiverJSON{}}
	failures := 0
	for _, r := range set.Receivers {
		j := receiverJSON{Namespace: r.Namespace, Name: r.Name, Type: r.Spec.Type}
		if r.Spec.Type == webhook.TypeGenericOIDC {
			// No token: the path is that of an empty one, as in Flux.
			j.Path = webhook.Path("", r.Name, r.Namespace)
		} else if token, err := webhook.ReadToken(secrets, r.Spec.SecretRef.Name); err != nil {
			failures++
			j.Error = err.Error()
		} else {
			j.Path = webhook.Path(token, r.Name, r.Namespace)
		}
		out.Receivers = append(out.Receivers, j)
	}
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RECEIVER\tTYPE\tPATH")
		for _, r := range out.Receivers {
			path := r.Path
			if r.Error != "" {
				path = "(error: " + r.Error + ")"
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\n", r.Namespace, r.Name, r.Type, path)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failures > 0 {
		return failed(fmt.Errorf("%s no readable token", count(failures, "receiver has", "receivers have")))
	}
	return nil
}
