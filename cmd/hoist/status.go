package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/service"
)

func newStatusCommand() *cobra.Command {
	var server, output string
	cmd := &cobra.Command{
		Use:   "status [--server ADDR] [-o table|json]",
		Short: "Show what a running hoist service selected and pushed",
		Long: `Status asks a running hoist service (hoist run without --once) for each policy's
last selection and each automation's last push, last success and last error, and
prints them. --server is the service's --ops-listen address if it has one, else
its --listen address (or a URL).

Exit status: 0, or 1 when a policy or automation has an error or the service
cannot be reached.`,
		Example: `  hoist status
  hoist status --server 10.0.0.5:9393 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), server, output, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "127.0.0.1:9393", "the service's --ops-listen (else --listen) address, or its URL")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func runStatus(ctx context.Context, server, output string, stdout io.Writer) error {
	if output != "table" && output != "json" {
		return usage(fmt.Errorf("--output %q: want table or json", output))
	}
	base := server
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/status", nil)
	if err != nil {
		return usage(fmt.Errorf("--server %q: %w", server, err))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed(fmt.Errorf("asking the hoist service at %s: %w", server, err))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return failed(fmt.Errorf("asking the hoist service at %s: %s", server, resp.Status))
	}
	var st service.Status
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err == nil {
		err = json.Unmarshal(body, &st)
	}
	if err != nil {
		return failed(fmt.Errorf("reading the status from %s: %w", server, err))
	}
	if output == "json" {
		if _, err := stdout.Write(body); err != nil {
			return err
		}
	} else if err := printStatus(stdout, st); err != nil {
		return err
	}
	errs := 0
	for _, p := range st.Policies {
		if p.Error != "" {
			errs++
		}
	}
	for _, a := range st.Automations {
		if a.Error != "" {
			errs++
		}
	}
	if errs > 0 {
		return failed(errors.New(count(errs, "policy or automation has an error", "policies or automations have an error")))
	}
	return nil
}

func printStatus(w io.Writer, st service.Status) error {
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tIMAGE\tSELECTED\tSINCE\tSCANNED\tERROR\tWARNING")
	for _, p := range st.Policies {
		sel := or(p.Ref, "-")
		if p.Suspended {
			sel += " (suspended)"
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name, or(p.Image, "-"), sel, when(p.SelectedAt), when(p.ScannedAt), p.Error, p.Warning)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AUTOMATION\tLAST PUSH\tBRANCH\tLAST SUCCESS\tERROR")
	for _, a := range st.Automations {
		push, branch := "-", "-"
		if a.LastPush != nil {
			push, branch = short(a.LastPush.Commit)+" at "+when(&a.LastPush.At), a.LastPush.Branch
		}
		name := a.Namespace + "/" + a.Name
		if a.Suspended {
			name += " (suspended)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, push, branch, when(a.LastSuccess), a.Error)
	}
	return tw.Flush()
}
