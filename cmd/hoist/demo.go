package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/policy"
)

func newDemoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Show hoist's main job on an embedded example",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSelectionDemo(cmd.OutOrStdout())
		},
	}
}

// demoTags is what a registry of a typical project holds: releases with and
// without a v, a release candidate, suffixed variants, branch builds and
// cosign signatures.
var demoTags = []string{
	"6.0.0", "v6.1.0", "6.1.0", "6.2.0-rc.1", "6.1.1-alpine", "6.1.1", "7.0.0",
	"latest", "main-3f2a1c9-1700000100", "main-9b8e7d1-1700000200",
	"sha256-3b1f9c.sig", "sha256-3b1f9c.att", "6.1.1-arm64",
}

// runSelectionDemo selects from demoTags with a few policies and explains
// the first choice.
func runSelectionDemo(w io.Writer) error {
	fmt.Fprintf(w, "Tags in the registry:\n  %v\n\n", demoTags)
	demos := []struct {
		title string
		spec  policy.Spec
	}{
		{"semver '>=6.0.0 <7.0.0' (releases of 6.x)", policy.Spec{Exclude: policy.DefaultExclusionList, Semver: &policy.SemverSpec{Range: ">=6.0.0 <7.0.0"}}},
		{"semver '>=6.0.0-0 <7.0.0' (pre-releases too)", policy.Spec{Exclude: policy.DefaultExclusionList, Semver: &policy.SemverSpec{Range: ">=6.0.0-0 <7.0.0"}}},
		{"branch builds by timestamp (pattern + extract, numerical)", policy.Spec{Exclude: policy.DefaultExclusionList, Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "$ts", Numerical: &policy.OrderSpec{}}},
	}
	for i, d := range demos {
		p, err := policy.Compile(d.spec)
		if err != nil {
			return err
		}
		res, err := p.Select(demoTags, policy.Options{Explain: i == 0, Now: time.Now()})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Policy %s\n  selects %s (%d candidates, %d dropped)\n", d.title, res.Tag, res.Candidates, res.Dropped)
		if i == 0 {
			for _, v := range res.Explain {
				switch {
				case v.Rank > 0:
					fmt.Fprintf(w, "    %-26s rank %d\n", v.Tag, v.Rank)
				default:
					fmt.Fprintf(w, "    %-26s dropped: %s\n", v.Tag, v.Dropped)
				}
			}
		}
		fmt.Fprintln(w)
	}
	return nil
}
