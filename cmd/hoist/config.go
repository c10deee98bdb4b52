package main

import (
	"encoding/json"
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

type validateJSON struct {
	Paths    []string        `json:"paths"`
	Valid    bool            `json:"valid"`
	Objects  validateObjects `json:"objects"`
	Errors   []problemJSON   `json:"errors"`
	Warnings []problemJSON   `json:"warnings"`
}

type validateObjects struct {
	ImageRepositories      int `json:"imageRepositories"`
	ImagePolicies          int `json:"imagePolicies"`
	ImageUpdateAutomations int `json:"imageUpdateAutomations"`
	GitRepositories        int `json:"gitRepositories"`
	Receivers              int `json:"receivers"`
	Providers              int `json:"providers"`
	Alerts                 int `json:"alerts"`
}

// problemJSON is one error or warning of validate -o json.
type problemJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// runValidate loads paths (. when there are none) and prints every error,
// or every warning and the objects read, on stdout.
func runValidate(paths []string, output string, stdout io.Writer) error {
	if output != "text" && output != "json" {
		return usage(fmt.Errorf("--output %q: want text or json", output))
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	out := validateJSON{Paths: paths, Errors: []problemJSON{}, Warnings: []problemJSON{}}
	set, err := config.Load(paths...)
	var es config.Errors
	switch {
	case errors.As(err, &es):
		for _, e := range es {
			msg := config.ErrInvalid.Error()
			if e.Err != nil {
				msg = e.Err.Error()
			}
			out.Errors = append(out.Errors, problemJSON{File: e.File, Line: e.Line, Column: e.Column, Field: e.Field, Message: msg})
		}
	case err != nil:
		return usage(err)
	default:
		out.Valid = true
		set.Warnings = append(set.Warnings, repositoryNotificationWarnings(set)...)
		for _, w := range set.Warnings {
			out.Warnings = append(out.Warnings, problemJSON{File: w.File, Line: w.Line, Column: w.Column, Field: w.Field, Message: w.Message})
		}
		out.Objects = validateObjects{
			ImageRepositories: len(set.Repositories), ImagePolicies: len(set.Policies), ImageUpdateAutomations: len(set.Automations),
			GitRepositories: len(set.GitRepositories), Receivers: len(set.Receivers),
			Providers: len(set.Providers), Alerts: len(set.Alerts),
		}
	}
	where := strings.Join(paths, ", ")
	if output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, e := range es {
			fmt.Fprintln(stdout, e)
		}
		if set != nil {
			for _, w := range set.Warnings {
				fmt.Fprintln(stdout, "warning:", w)
			}
			o := out.Objects
			fmt.Fprintf(stdout, "ok: %s, %s, %s, %s and %s in %s\n",
				count(o.ImageRepositories, "image repository", "image repositories"), count(o.ImagePolicies, "policy", "policies"),
				count(o.ImageUpdateAutomations, "automation", "automations"), count(o.GitRepositories, "Git repository", "Git repositories"),
				count(o.Receivers, "receiver", "receivers"), where)
			if o.Providers+o.Alerts > 0 {
				fmt.Fprintf(stdout, "notifications: %s and %s\n", count(o.Providers, "provider", "providers"), count(o.Alerts, "alert", "alerts"))
			}
		}
	}
	if !out.Valid {
		return usage(fmt.Errorf("%s in %s", count(len(es), "configuration error", "configuration errors"), where))
	}
	return nil
}

// count is "1 policy" or "N policies".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
