package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hoist-dev/hoist/config"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// Set or Errors of *Error wrapping ErrInvalid, each with a position.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/valid/*.yaml", "testdata/invalid/*.yaml", "testdata/multi/*.yaml", "testdata/positions/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: &a {<<: *a}\n"))
	f.Add([]byte("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\n? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := config.Parse("fuzz.yaml", data)
		if err == nil {
			if set == nil {
				t.Fatal("Parse returned neither a Set nor an error")
			}
			for _, p := range set.Policies {
				if p.Compiled == nil || p.Repository == nil {
					t.Fatalf("policy %s/%s not resolved", p.Namespace, p.Name)
				}
			}
			return
		}
		if set != nil {
			t.Fatal("Parse returned a Set with an error")
		}
		if !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("error does not wrap ErrInvalid: %v", err)
		}
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is not Errors: %T %v", err, err)
		}
		// Lines as YAML counts them: a lone CR breaks a line too.
		crlf := bytes.Count(data, []byte("\r\n"))
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - crlf + 1
		for _, e := range errs {
			if e.File != "fuzz.yaml" || e.Line < 1 || e.Err == nil {
				t.Fatalf("error without position or cause: %#v", e)
			}
			if e.Line > lines {
				t.Fatalf("error at line %d of a file of %d lines: %v", e.Line, lines, e)
			}
		}
	})
}

// FuzzLoadRepository loads a repository file with LoadOptions.Repository:
// it never panics, and no Provider or Alert of the file is ever read.
func FuzzLoadRepository(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "repository-notifications", "repo", "apps", "alerts.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("apiVersion: hoist.dev/v1alpha1\nkind: Provider\nmetadata: {name: [a], namespace: *x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"repo/a.yaml": &fstest.MapFile{Data: data}}
		set, err := config.LoadOntoFSWith(&config.Set{}, fsys, "repo", config.LoadOptions{Repository: true})
		if err == nil && (len(set.Providers) > 0 || len(set.Alerts) > 0) {
			t.Fatalf("a repository's Provider or Alert was read: %d providers, %d alerts", len(set.Providers), len(set.Alerts))
		}
	})
}
