package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
)

// loadConfig loads documents and prints their warnings on stderr. An
// invalid configuration is a usage error (exit status 2).
func loadConfig(paths []string, stderr io.Writer) (*config.Set, error) {
	set, err := config.Load(paths...)
	if err != nil {
		return nil, usage(err)
	}
	for _, w := range set.Warnings {
		fmt.Fprintln(stderr, "hoist: warning:", w)
	}
	return set, nil
}

// splitName reads NAMESPACE/NAME (or NAMESPACE:NAME, the marker syntax); a
// bare NAME is in the default namespace.
func splitName(s string) (namespace, name string, err error) {
	if s == "" {
		return "", "", errors.New("a policy name is required (NAMESPACE/NAME)")
	}
	if ns, n, ok := strings.Cut(s, "/"); ok {
		namespace, name = ns, n
	} else if ns, n, ok := strings.Cut(s, ":"); ok {
		namespace, name = ns, n
	} else {
		namespace, name = config.DefaultNamespace, s
	}
	if namespace == "" || name == "" {
		return "", "", fmt.Errorf("policy name %q: want NAMESPACE/NAME", s)
	}
	return namespace, name, nil
}

// specFromDocuments finds one ImagePolicy in a file or directory.
func specFromDocuments(path, qualified string) (policy.Spec, error) {
	ns, name, err := splitName(qualified)
	if err != nil {
		return policy.Spec{}, fmt.Errorf("--name: %w", err)
	}
	set, err := config.Load(path)
	if err != nil {
		return policy.Spec{}, err
	}
	p := set.Policy(ns, name)
	if p == nil {
		var names []string
		for _, p := range set.Policies {
			names = append(names, p.Namespace+"/"+p.Name)
		}
		return policy.Spec{}, fmt.Errorf("no ImagePolicy %s/%s in %s (found: %s)", ns, name, path, strings.Join(names, ", "))
	}
	return p.Compiled.Spec(), nil
}

func runValidate(paths []string, stdout, stderr io.Writer) error {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	set, err := config.Load(paths...)
	if err != nil {
		var es config.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				fmt.Fprintln(stdout, e)
			}
			return usage(fmt.Errorf("%d configuration errors", len(es)))
		}
		return usage(err)
	}
	for _, w := range set.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "ok: %d image repositories, %d policies, %d automations, %d git repositories, %d receivers\n",
		len(set.Repositories), len(set.Policies), len(set.Automations), len(set.GitRepositories), len(set.Receivers))
	return nil
}
