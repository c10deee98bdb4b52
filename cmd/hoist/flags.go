package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// envAnnotation marks a flag that flagsFromEnv set; its value is the
// variable's name.
const envAnnotation = "hoist.dev/from-env"

// flagsFromEnv sets each flag the user did not give from HOIST_<FLAG>, as
// docs/cli.md promises (dashes become underscores), and marks it with
// envAnnotation. A repeatable flag takes a list: items separated by commas
// or newlines (not colons, which image references and addresses contain).
func flagsFromEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			items := splitList(v)
			if len(items) == 0 {
				return
			}
			if e := sv.Replace(items); e != nil {
				err = usage(fmt.Errorf("environment %s=%q: %w", name, v, e))
				return
			}
			f.Changed = true
		} else if e := fs.Set(f.Name, v); e != nil {
			err = usage(fmt.Errorf("environment %s=%q: %w", name, v, e))
			return
		}
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[envAnnotation] = []string{name}
	})
	return err
}

// envName is the variable of a flag: HOIST_ + its name in upper case, dashes
// as underscores.
func envName(flag string) string {
	return "HOIST_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// splitList splits the value of a repeatable flag's variable at commas and
// newlines, trims spaces and drops empty items.
func splitList(v string) []string {
	items := []string{}
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' }) {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// flagCheck reports flags that do nothing in the mode chosen: one given on
// the command line is bad usage, one set only through its environment
// variable (which may be meant for other commands) a warning on stderr.
// The zero flagCheck checks nothing.
type flagCheck struct {
	fs     *pflag.FlagSet
	stderr io.Writer
}

// inert reports flag, if it was set, as doing nothing because of why, which
// follows the flag's name ("needs --once", say).
func (c flagCheck) inert(flag, why string) error {
	if c.fs == nil {
		return nil
	}
	f := c.fs.Lookup(flag)
	if f == nil || !f.Changed {
		return nil
	}
	if env, ok := f.Annotations[envAnnotation]; ok {
		fmt.Fprintf(c.stderr, "hoist: warning: ignoring %s: --%s %s\n", env[0], flag, why)
		return nil
	}
	return usage(fmt.Errorf("--%s %s", flag, why))
}
