package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

type updateOptions struct {
	configs []string
	files   []string
	include []string
	sets    []string
	dryRun  bool
	output  string
	noScan  bool
	reg     registryFlags
}

func newUpdateCommand() *cobra.Command {
	var o updateOptions
	cmd := &cobra.Command{
		Use:   "update DIR [-c FILE|DIR]... [--set NS/NAME=REF]... [--dry-run] [-o text|diff|json]",
		Short: "Rewrite image references in the manifests of a directory",
		Long: `Update finds the targets in DIR's .yaml and .yml files (and the files named with
--file), and markers in comments of its text files (Jsonnet, CUE, HCL, TOML, .env,
Dockerfiles, and the files --include matches): values carrying a Flux marker  # {"$imagepolicy": "NS:NAME"}  (and its
:tag, :name and :digest forms), and the containers of workloads annotated with
hoist.dev/policy, fluxcd.io/tag.* or keel.sh/policy. It selects a tag for each
policy they name (scanning registries; --set pins a value instead, which is how a
CI job writes the image it just built), and rewrites only the bytes of the values
that change: comments, quoting, indentation and line endings stay as they were.

The policies are the ImageRepository and ImagePolicy documents (hoist's or
Flux's) of -c and of DIR itself. DIR's other YAML (Helm templates, other tools'
files, documents that do not parse) is no configuration and does not stop the
update; a file of DIR whose ImageRepository or ImagePolicy is invalid is skipped
with a warning.

A file with a refused target (a value that is not a valid image reference, a
marker naming no policy, a file that does not parse, a path outside DIR) is left
untouched and reported; the other files are still updated. Running update twice
changes nothing the second time. Git is not touched: see hoist run.

Exit status: 0 success (also nothing to change), 1 some policy or target failed,
2 bad usage or invalid configuration.`,
		Example: `  hoist update clusters/prod -c clusters/prod --dry-run
  hoist update . --set apps/podinfo=ghcr.io/stefanprodan/podinfo:6.5.0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpdate(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.configs, "config", "c", nil, "file or directory of policy documents, besides those in DIR (repeatable)")
	f.StringArrayVar(&o.files, "file", nil, "a file to scan besides DIR's .yaml/.yml files, read as YAML (repeatable)")
	f.StringArrayVar(&o.include, "include", nil, "a glob of DIR's files (** crosses directories) read for markers in comments, as the text files are (repeatable)")
	f.StringArrayVar(&o.sets, "set", nil, "pin a policy's selection: NAMESPACE/NAME=REFERENCE (repeatable; in HOIST_SET, separated by commas or newlines)")
	f.BoolVar(&o.dryRun, "dry-run", false, "write nothing; print what would change (a unified diff unless -o json)")
	f.StringVarP(&o.output, "output", "o", "", "output format: text, diff or json (default text, or diff with --dry-run)")
	f.BoolVar(&o.noScan, "no-scan", false, "do not contact registries: only --set values are written")
	o.reg.register(f)
	return cmd
}

type updateJSON struct {
	Changes []updateChangeJSON     `json:"changes"`
	Errors  []*writeback.FileError `json:"errors"`
	// Kept are the changes kept back: held, after a manual change, or
	// downgrades.
	Kept     []keptJSON    `json:"kept,omitempty"`
	Warnings []warningJSON `json:"warnings,omitempty"`
}

// keptJSON is a change kept back: {"file", "line", "old", "new", "policy",
// "reason"}.
type keptJSON struct {
	updateChangeJSON
	Reason  automation.KeptReason `json:"reason"`
	Written string                `json:"written,omitempty"`
}

// warningJSON is a file skipped with a warning: {"file", "warning"}.
type warningJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Warning string `json:"warning"`
}

func warningsJSON(ws []*writeback.FileError) []warningJSON {
	var out []warningJSON
	for _, w := range ws {
		out = append(out, warningJSON{File: w.File, Line: w.Line, Field: w.Field, Warning: w.Err.Error()})
	}
	return out
}

type updateChangeJSON struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Policy string `json:"policy"`
}

func runUpdate(ctx context.Context, dir string, o updateOptions, stdout, stderr io.Writer) error {
	if o.output == "" {
		o.output = "text"
		if o.dryRun {
			o.output = "diff"
		}
	}
	if o.output != "text" && o.output != "diff" && o.output != "json" {
		return usage(fmt.Errorf("--output %q: want text, diff or json", o.output))
	}
	pins := map[string]string{}
	for _, s := range o.sets {
		key, ref, ok := strings.Cut(s, "=")
		if !ok || ref == "" {
			return usage(fmt.Errorf("--set %q: want NAMESPACE/NAME=REFERENCE", s))
		}
		ns, n, err := splitName(key)
		if err != nil {
			return usage(fmt.Errorf("--set %q: %w", s, err))
		}
		pins[ns+":"+n] = ref
	}
	if info, err := os.Stat(dir); err != nil {
		return usage(fmt.Errorf("update DIR: %w", err))
	} else if !info.IsDir() {
		return usage(fmt.Errorf("update DIR: %s is not a directory", dir))
	}
	// The policies: -c's documents, and the ImageRepository and ImagePolicy
	// documents kept in DIR next to the manifests.
	set, err := config.LoadWithTreePolicies(o.configs, dir)
	if err != nil {
		return usage(err)
	}
	for _, w := range set.Warnings {
		fmt.Fprintln(stderr, "hoist: warning:", w)
	}
	uo := automation.UpdateOptions{Root: dir, Files: o.files, Include: o.include, Pins: pins, DryRun: o.dryRun, Set: set}
	if !o.noScan {
		scanner, err := o.reg.scanner(stderr)
		if err != nil {
			return err
		}
		defer scanner.Close()
		uo.Scanner = scanner
	}
	res, err := automation.Update(ctx, uo)
	if err != nil {
		return failed(err)
	}
	printStaleWarnings(res.Selections, stderr)
	switch o.output {
	case "json":
		printUpdateWarnings(res, stderr)
		out := updateJSON{Changes: []updateChangeJSON{}, Errors: res.Errors, Warnings: warningsJSON(res.Warnings)}
		if out.Errors == nil {
			out.Errors = []*writeback.FileError{}
		}
		for _, c := range res.Changes {
			out.Changes = append(out.Changes, updateChangeJSON{File: c.File, Line: c.Line, Old: c.Old, New: c.New, Policy: c.Policy})
		}
		for _, k := range res.Kept {
			out.Kept = append(out.Kept, keptJSON{updateChangeJSON{File: k.File, Line: k.Line, Old: k.Old, New: k.New, Policy: k.Policy}, k.Reason, k.Written})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	case "diff":
		for _, f := range res.Files {
			if f.Err == nil {
				fmt.Fprint(stdout, writeback.Diff(f.Path, f.Old, f.New))
			}
		}
		printUpdateErrors(res, stderr)
	default:
		verb := "updated"
		if o.dryRun {
			verb = "would update"
		}
		for _, c := range res.Changes {
			fmt.Fprintf(stdout, "%s:%d: %s %s → %s (%s)\n", c.File, c.Line, verb, c.Old, c.New, c.Setter)
		}
		for _, k := range res.Kept {
			fmt.Fprintf(stdout, "%s:%d: kept %s: %s (%s)\n", k.File, k.Line, k.Old, k, k.Setter)
		}
		if len(res.Changes) == 0 {
			fmt.Fprintln(stdout, "nothing to change")
		}
		printUpdateErrors(res, stderr)
	}
	if res.Failed() {
		return failed(errors.New(count(len(res.Errors), "target or policy failed", "targets or policies failed")))
	}
	return nil
}

func printUpdateWarnings(res automation.UpdateResult, stderr io.Writer) {
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "hoist: warning:", w)
	}
}

func printUpdateErrors(res automation.UpdateResult, stderr io.Writer) {
	printUpdateWarnings(res, stderr)
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, "hoist: error:", e)
	}
}
