package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/policy"
)

type selectOptions struct {
	tags         string
	policyFile   string
	name         string
	semver       string
	alphabetical string
	numerical    string
	newestBuild  bool
	created      string
	glob         string
	pattern      string
	extract      string
	exclude      []string
	explain      bool
	output       string
}

func newSelectCommand() *cobra.Command {
	var o selectOptions
	cmd := &cobra.Command{
		Use:   "select --tags FILE|- (--policy FILE --name NS/NAME | --semver RANGE | --alphabetical asc|desc | --numerical asc|desc | --newest-build --created FILE)",
		Short: "Select a tag from a list with a policy, offline",
		Long: `Select reads a list of tags (one per line, or a JSON array) and prints the tag a
policy selects, without contacting a registry.

The rule comes from an ImagePolicy document (--policy FILE --name NS/NAME) or from
one of --semver, --alphabetical, --numerical, --newest-build. --glob, --pattern
(with --extract) and --exclude are filters that combine with any rule. The
default exclusion list (cosign's .sig, .att and .sbom tags) always applies on the
command line; --exclude adds to it.

--newest-build orders by build time, which a registry knows; --created supplies
it offline as a JSON object mapping tag to an RFC 3339 time.

Annotations use shorthands of the same rules: semver:RANGE, glob:PATTERN and
regex:RE (the last two order by newest build, as Flux v1 and Keel did),
alphabetical[:asc|desc], numerical[:asc|desc], and Keel's all, major, minor,
patch and force.

Ties: when two tags have the same ordered value (1.2 and 1.2.0, v1.2.0 and
1.2.0), the tag that is greatest byte by byte wins, whatever the input order.

Exit status: 0 a tag was selected, 1 no tag matches, 2 invalid policy or usage.`,
		Example: `  printf '1.0.0\n1.4.2\n2.0.0-rc.1\n' | hoist select --tags - --semver '^1'
  hoist select --tags tags.txt --pattern '^main-[a-f0-9]+-(?P<ts>[0-9]+)$' --extract '$ts' --numerical asc --explain
  hoist select --tags tags.json --policy policies.yaml --name apps/podinfo -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSelect(o, flagCheck{fs: cmd.Flags(), stderr: cmd.ErrOrStderr()}, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tags, "tags", "", "file with one tag a line or a JSON array; - for stdin (required)")
	f.StringVar(&o.policyFile, "policy", "", "file or directory of ImagePolicy documents")
	f.StringVar(&o.name, "name", "", "NAMESPACE/NAME of the ImagePolicy in --policy (NAME alone means namespace default)")
	f.StringVar(&o.semver, "semver", "", "order by semantic version within this Masterminds range")
	f.StringVar(&o.alphabetical, "alphabetical", "", "order alphabetically: asc picks the last, desc the first")
	f.StringVar(&o.numerical, "numerical", "", "order numerically: asc picks the largest, desc the smallest")
	f.BoolVar(&o.newestBuild, "newest-build", false, "order by build time (needs --created)")
	f.StringVar(&o.created, "created", "", "JSON object of tag to RFC 3339 build time, for --newest-build")
	f.StringVar(&o.glob, "glob", "", "keep only tags matching this glob")
	f.StringVar(&o.pattern, "pattern", "", "keep only tags matching this RE2 pattern")
	f.StringVar(&o.extract, "extract", "", "order by this template over --pattern's groups ($name, ${name}, $1)")
	f.StringArrayVar(&o.exclude, "exclude", nil, "drop tags matching this RE2 pattern (repeatable)")
	f.BoolVar(&o.explain, "explain", false, "say for every tag why it was dropped or where it ranked")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

type selectJSON struct {
	Tag        string           `json:"tag"`
	Candidates int              `json:"candidates"`
	Dropped    int              `json:"dropped"`
	Explain    []policy.Verdict `json:"explain,omitempty"`
}

func runSelect(o selectOptions, check flagCheck, stdin io.Reader, stdout io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return usage(fmt.Errorf("--output %q: want text or json", o.output))
	}
	if o.tags == "" {
		return usage(errors.New("--tags is required (a file, or - for stdin)"))
	}
	if o.policyFile == "" {
		if err := check.inert("name", "needs --policy: it names an ImagePolicy of that file"); err != nil {
			return err
		}
	}
	spec, err := selectSpec(o)
	if err != nil {
		return err
	}
	p, err := policy.Compile(spec)
	if err != nil {
		return usage(err)
	}
	if !p.Needs().Created {
		if err := check.inert("created", "is for a policy that orders or filters by build time (--newest-build, or a document with newestBuild or minAge): this one does not"); err != nil {
			return err
		}
	}
	tags, err := readTags(o.tags, stdin)
	if err != nil {
		return usage(err)
	}
	opts := policy.Options{Explain: o.explain, Now: time.Now()}
	if p.Needs() != (policy.Need{}) {
		if p.Needs().Verified {
			return usage(errors.New("this policy verifies signatures (spec.verify), which only a registry holds: use hoist scan --explain"))
		}
		if p.Needs().Digest || p.Needs().Platforms {
			return usage(errors.New("this policy needs digests or platforms, which only a registry knows: use hoist scan"))
		}
		if o.created == "" {
			return usage(errors.New("this policy orders or filters by build time: supply --created FILE (a JSON object of tag to RFC 3339 time)"))
		}
		created, err := readCreated(o.created)
		if err != nil {
			return usage(err)
		}
		opts.Facts = func(tag string, _ policy.Need) (policy.Facts, error) {
			return policy.Facts{Created: created[tag]}, nil
		}
	}
	res, selErr := p.Select(tags, opts)
	if selErr != nil && !errors.Is(selErr, policy.ErrNoMatch) {
		return usage(selErr)
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(selectJSON{Tag: res.Tag, Candidates: res.Candidates, Dropped: res.Dropped, Explain: res.Explain}); err != nil {
			return err
		}
	} else {
		if o.explain {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TAG\tVALUE\tRANK\tDROPPED BECAUSE")
			for _, v := range res.Explain {
				rank := "-"
				if v.Rank > 0 {
					rank = fmt.Sprint(v.Rank)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Tag, v.Value, rank, v.Dropped)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\npolicy %s: %s, %d dropped\n", p, count(res.Candidates, "candidate", "candidates"), res.Dropped)
		}
		if selErr == nil {
			fmt.Fprintln(stdout, res.Tag)
		}
	}
	if selErr != nil {
		return failed(selErr)
	}
	return nil
}

// selectSpec builds the policy from --policy or the rule flags.
func selectSpec(o selectOptions) (policy.Spec, error) {
	rules := 0
	for _, set := range []bool{o.semver != "", o.alphabetical != "", o.numerical != "", o.newestBuild, o.policyFile != ""} {
		if set {
			rules++
		}
	}
	if rules != 1 {
		return policy.Spec{}, usage(errors.New("give exactly one of --policy, --semver, --alphabetical, --numerical, --newest-build"))
	}
	var spec policy.Spec
	if o.policyFile != "" {
		s, err := specFromDocuments(o.policyFile, o.name)
		if err != nil {
			return policy.Spec{}, usage(err)
		}
		spec = s
	} else {
		spec.Exclude = policy.DefaultExclusionList
		switch {
		case o.semver != "":
			spec.Semver = &policy.SemverSpec{Range: o.semver}
		case o.alphabetical != "":
			spec.Alphabetical = &policy.OrderSpec{Order: policy.Order(o.alphabetical)}
		case o.numerical != "":
			spec.Numerical = &policy.OrderSpec{Order: policy.Order(o.numerical)}
		case o.newestBuild:
			spec.NewestBuild = &policy.NewestBuildSpec{}
		}
	}
	spec.Exclude = append(append([]string(nil), spec.Exclude...), o.exclude...)
	if o.glob != "" {
		spec.Glob = o.glob
	}
	if o.pattern != "" {
		spec.Pattern = o.pattern
	}
	if o.extract != "" {
		spec.Extract = o.extract
	}
	return spec, nil
}

// readTags reads one tag a line, or a JSON array of strings.
func readTags(path string, stdin io.Reader) ([]string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		var tags []string
		if err := json.Unmarshal(trimmed, &tags); err != nil {
			return nil, fmt.Errorf("reading tags from %s as a JSON array: %w", path, err)
		}
		return tags, nil
	}
	var tags []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
			tags = append(tags, t)
		}
	}
	return tags, sc.Err()
}

func readCreated(path string) (map[string]time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading build times: %w", err)
	}
	var m map[string]time.Time
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading build times from %s (want {\"tag\": \"RFC 3339 time\"}): %w", path, err)
	}
	return m, nil
}
