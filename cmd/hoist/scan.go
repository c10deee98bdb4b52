package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/policy"
)

type scanOptions struct {
	configs []string
	output  string
	digest  bool
	explain bool
	reg     registryFlags
}

func newScanCommand() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [-c FILE|DIR]... [-o table|json] [--explain]",
		Short: "Scan registries and print each policy's selected tag",
		Long: `Scan loads ImageRepository and ImagePolicy documents, lists the tags of every
repository once (shared by the policies that use it, in parallel within the
per-host limits), selects a tag per policy and prints a table or JSON.

Credentials: a repository's secretRef (a .dockerconfigjson in --secrets-dir/NAME/),
else Docker's config.json ($DOCKER_CONFIG, auths, credHelpers, credsStore), else
the auth.json of podman, skopeo and buildah ($REGISTRY_AUTH_FILE,
$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json), else
anonymous. Tag lists and image facts are cached in the state directory, so a
rescan asks only for what is new; when a registry fails, the last good tag list
is used only when the failure is transient (no connection, a timeout, 429,
5xx), with a warning on stderr and in the WARNING column or "warning" field;
a registry that refuses the credentials or no longer has the repository fails
the policy.

--explain adds, per policy, every tag with its rank or why it was dropped: a
policy with spec.verify names the tags ranked above the selection whose image
has no valid signature ("not verified: ..."). Verified digests are cached by
key and digest: a rescan checks only new digests.

Exit status: 0 every policy selected a tag, 1 some policy failed (the others are
still reported), 2 invalid configuration.`,
		Example: `  hoist scan -c clusters/prod
  hoist scan -c policies.yaml -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScan(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringArrayVarP(&o.configs, "config", "c", nil, "file or directory of documents (repeatable; default .)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVar(&o.digest, "digest", false, "show the digest column in the table")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "say for every tag of every policy why it was dropped or where it ranked")
	o.reg.register(cmd.Flags())
	return cmd
}

type scanJSON struct {
	Policies []scanPolicyJSON `json:"policies"`
}

type scanPolicyJSON struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Image     string `json:"image"`
	Tag       string `json:"tag"`
	Digest    string `json:"digest"`
	Ref       string `json:"ref"`
	Error     string `json:"error"`
	FetchedAt string `json:"fetchedAt,omitempty"`
	Stale     bool   `json:"stale,omitempty"`
	Warning   string `json:"warning,omitempty"`
	Held      bool   `json:"held,omitempty"`
	// Verify counts signature checks (policies with spec.verify).
	Verify *automation.VerifyCounts `json:"verify,omitempty"`
	// Explain is set with --explain.
	Explain []policy.Verdict `json:"explain,omitempty"`
}

func runScan(ctx context.Context, o scanOptions, stdout, stderr io.Writer) error {
	if o.output != "table" && o.output != "json" {
		return usage(fmt.Errorf("--output %q: want table or json", o.output))
	}
	if len(o.configs) == 0 {
		o.configs = []string{"."}
	}
	set, err := loadConfig(o.configs, stderr)
	if err != nil {
		return err
	}
	scanner, err := o.reg.scanner(stderr)
	if err != nil {
		return err
	}
	defer scanner.Close()
	scanner.Explain = o.explain
	stop := progress(stderr, "scanning "+count(len(set.Policies), "policy", "policies"))
	sels := scanner.Scan(ctx, set)
	stop()
	printStaleWarnings(sels, stderr)
	return printSelections(sels, o.output, o.digest, time.Now(), stdout)
}

// printStaleWarnings prints one line on stderr per repository whose cached
// tag list stood in for a transient registry failure.
func printStaleWarnings(sels []automation.Selection, stderr io.Writer) {
	seen := map[string]bool{}
	for _, s := range sels {
		if s.Warning == "" || seen[s.Image] {
			continue
		}
		seen[s.Image] = true
		fmt.Fprintf(stderr, "warning: %s: %s\n", s.Image, s.Warning)
	}
}

func printSelections(sels []automation.Selection, output string, digest bool, now time.Time, stdout io.Writer) error {
	failures := 0
	for _, s := range sels {
		if s.Err != nil {
			failures++
		}
	}
	if output == "json" {
		out := scanJSON{Policies: []scanPolicyJSON{}}
		for _, s := range sels {
			p := scanPolicyJSON{Namespace: s.Namespace, Name: s.Name, Image: s.Image, Tag: s.Tag, Digest: s.Digest, Ref: s.Ref, Stale: s.Stale, Warning: s.Warning,
				Held: s.Held, Verify: s.Verify, Explain: s.Explain}
			if s.Err != nil {
				p.Error = s.Err.Error()
			}
			if !s.FetchedAt.IsZero() {
				p.FetchedAt = s.FetchedAt.UTC().Format(time.RFC3339)
			}
			out.Policies = append(out.Policies, p)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		header := "POLICY\tIMAGE\tTAG\tAGE\tERROR\tWARNING"
		if digest {
			header = "POLICY\tIMAGE\tTAG\tDIGEST\tAGE\tERROR\tWARNING"
		}
		fmt.Fprintln(tw, header)
		for _, s := range sels {
			age := "-"
			if !s.FetchedAt.IsZero() {
				age = now.Sub(s.FetchedAt).Round(time.Second).String()
				if s.Stale {
					age += " (stale)"
				}
			}
			errText := ""
			if s.Err != nil {
				errText = strings.ReplaceAll(s.Err.Error(), "\n", "; ")
			}
			tag := s.Tag
			if tag == "" {
				tag = "-"
			}
			if s.Held {
				tag += " (held)"
			}
			warning := strings.ReplaceAll(s.Warning, "\n", "; ")
			if digest {
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, s.Image, tag, s.Digest, age, errText, warning)
			} else {
				fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, s.Image, tag, age, errText, warning)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := printExplained(sels, stdout); err != nil {
			return err
		}
	}
	if failures > 0 {
		return failed(fmt.Errorf("%d of %s failed", failures, count(len(sels), "policy", "policies")))
	}
	return nil
}

// printExplained prints, after the table, each policy's verdicts (scan
// --explain) and its signature checks.
func printExplained(sels []automation.Selection, stdout io.Writer) error {
	for _, s := range sels {
		if s.Explain == nil {
			continue
		}
		fmt.Fprintf(stdout, "\n%s/%s (%s): %s, %d dropped", s.Namespace, s.Name, s.Image, count(s.Candidates, "candidate", "candidates"), s.Dropped)
		if v := s.Verify; v != nil {
			fmt.Fprintf(stdout, "; signatures: %d checked, %d verified, %d from the cache", v.Checked, v.Verified, v.Cached)
		}
		fmt.Fprintln(stdout)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TAG\tVALUE\tRANK\tDROPPED BECAUSE")
		for _, v := range s.Explain {
			rank := "-"
			if v.Rank > 0 {
				rank = fmt.Sprint(v.Rank)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Tag, v.Value, rank, v.Dropped)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// progress prints a line on a terminal when work takes more than a second,
// and clears it when stop is called.
func progress(w io.Writer, what string) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(f, "\r\033[K")
				}
				return
			case <-t.C:
				shown = true
				fmt.Fprintf(f, "\r%s… %s", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done); <-finished }
}
