package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry/webhook"
	"github.com/hoist-dev/hoist/service"
	"github.com/hoist-dev/hoist/writeback"
)

type runOptions struct {
	configs   []string
	once      bool
	output    string
	logFormat string
	logLevel  string
	listen    string
	window    time.Duration
	grace     time.Duration
	spread    time.Duration
	tokenFile string
	tokenEnv  string
	sshKey    string
	sshHosts  string
	dryRun    bool
	opsListen string
	maxBody   int64
	pprof     bool
	reg       registryFlags
}

func newRunCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [-c FILE|DIR]... [--once]",
		Short: "Run the image update automations: scan, write, commit, push",
		Long: `Run executes each ImageUpdateAutomation: it clones (once, then fetches) the Git
repository into the state directory, loads the policies the automation selects
from the configuration and from the repository's update path, scans registries,
rewrites the targets, commits with the automation's author, message template and
signing key, and pushes to the checkout branch or to spec.git.push.branch,
opening or updating a pull request when spec.git.push.pullRequest is set.

When the remote moved during the push, hoist fetches, plans again on the new
head and retries; it never overwrites another writer's commit.

With --once, every automation runs once (those of different Git repositories in
parallel, up to 4) and hoist exits; a run with nothing new does nothing and says
so; --dry-run shows what the run would commit (the changes and a unified diff)
and pushes nothing. Without --once, hoist keeps running as a service; hoist
status shows what it selected and pushed.

Secrets (Git credentials, signing keys, registry credentials) are read from
--secrets-dir/NAME/KEY with Flux's key names. A GitRepository without a secretRef
uses --git-token-file or --git-token-env over HTTPS and, over SSH, what the git
command would: the keys of ssh-agent (SSH_AUTH_SOCK) or ~/.ssh/id_ed25519,
id_ecdsa or id_rsa, with host keys checked against ~/.ssh/known_hosts.

Exit status: 0 success (also nothing to do), 1 some automation or target failed,
2 invalid configuration.`,
		Example: `  hoist run --once -c clusters/prod
  hoist run --once -c fleet/ -o json --secrets-dir /etc/hoist/secrets`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.checkMode(flagCheck{fs: cmd.Flags(), stderr: cmd.ErrOrStderr()}); err != nil {
				return err
			}
			if !o.once {
				return runService(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runOnce(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.configs, "config", "c", nil, "file or directory of documents (repeatable; default .)")
	f.BoolVar(&o.once, "once", false, "run every automation once and exit")
	f.BoolVar(&o.dryRun, "dry-run", false, "with --once: sync, scan and plan, print the changes and their diff, and commit and push nothing")
	f.StringVarP(&o.output, "output", "o", "text", "output format with --once: text or json")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.listen, "listen", "127.0.0.1:9393", "service mode: address of the webhooks, and of /metrics, /status, /healthz and /readyz unless --ops-listen is set")
	f.StringVar(&o.opsListen, "ops-listen", "", "service mode: a separate address for /metrics and /status (and /healthz, /readyz), so that --listen can face registries with the webhooks only")
	f.StringVar(&o.tokenFile, "git-token-file", "", "file holding a Git HTTPS token, for repositories without a secretRef")
	f.StringVar(&o.tokenEnv, "git-token-env", "", "environment variable holding a Git HTTPS token, for repositories without a secretRef")
	f.StringVar(&o.sshKey, "ssh-key", "", "SSH private key (unencrypted; put encrypted keys in ssh-agent) for repositories without a secretRef; default: ssh-agent (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa")
	f.StringVar(&o.sshHosts, "known-hosts", "", "known_hosts file for SSH repositories without a secretRef (default ~/.ssh/known_hosts)")
	f.BoolVar(&o.pprof, "pprof", false, "service mode: serve Go's CPU, heap and goroutine profiles at /debug/pprof/ with /metrics (on --ops-listen when set; keep it off a listener that faces registries)")
	f.Int64Var(&o.maxBody, "webhook-max-body", webhook.DefaultBodyLimit, "service mode: largest webhook request body read, in bytes; a larger one is answered 413 (Flux reads up to 3 MiB)")
	f.DurationVar(&o.window, "commit-window", 5*time.Second, "service mode: selection changes within this window go into one commit (0: commit each change at once)")
	f.DurationVar(&o.spread, "startup-spread", service.DefaultStartupSpread, "service mode: first scans and runs start spread over this long, so that many repositories do not all start at once (0: all at once)")
	f.DurationVar(&o.grace, "grace-period", 25*time.Second, "service mode: how long SIGTERM waits for the commit in progress")
	o.reg.register(f)
	return cmd
}

// checkMode refuses the flags of one mode in the other: --once's with the
// service, the service's with --once.
func (o *runOptions) checkMode(c flagCheck) error {
	if o.once {
		for _, f := range []string{"listen", "ops-listen", "commit-window", "startup-spread", "grace-period", "webhook-max-body", "pprof"} {
			if err := c.inert(f, "is for the service: with --once, hoist runs each automation once and serves nothing"); err != nil {
				return err
			}
		}
		return nil
	}
	if err := c.inert("dry-run", "needs --once"); err != nil {
		return err
	}
	if o.maxBody <= 0 {
		return usage(fmt.Errorf("--webhook-max-body %d: want a positive number of bytes", o.maxBody))
	}
	if err := c.inert("output", "needs --once: the service prints logs, formatted by --log-format"); err != nil {
		return err
	}
	// A value from the environment is ignored.
	o.dryRun, o.output = false, "text"
	return nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usage(fmt.Errorf("--log-level %q: %w", level, err))
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usage(fmt.Errorf("--log-format %q: want text or json", format))
}

type runJSON struct {
	Automations []runAutomationJSON `json:"automations"`
}

type runAutomationJSON struct {
	automation.RunResult
	Error    string                 `json:"error,omitempty"`
	Errors   []*writeback.FileError `json:"errors"`
	Warnings []warningJSON          `json:"warnings,omitempty"`
}

func runOnce(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return usage(fmt.Errorf("--output %q: want text or json", o.output))
	}
	if len(o.configs) == 0 {
		o.configs = []string{"."}
	}
	logger, err := newLogger(o.logFormat, "warn", stderr)
	if o.logLevel != "info" {
		logger, err = newLogger(o.logFormat, o.logLevel, stderr)
	}
	if err != nil {
		return err
	}
	set, err := loadConfig(o.configs, stderr)
	if err != nil {
		return err
	}
	if len(set.Automations) == 0 {
		return usage(errors.New("no ImageUpdateAutomation in the configuration"))
	}
	results, err := automation.RunOnce(ctx, o.loopOptions(logger, stderr), set)
	if err != nil {
		return usage(err)
	}
	failures := 0
	for _, r := range results {
		if r.Failed() {
			failures++
		}
	}
	if o.output == "json" {
		out := runJSON{Automations: []runAutomationJSON{}}
		for _, r := range results {
			j := runAutomationJSON{RunResult: r, Errors: r.Errors, Warnings: warningsJSON(r.Warnings)}
			if j.Changes == nil {
				j.Changes = []writeback.Change{}
			}
			if j.Errors == nil {
				j.Errors = []*writeback.FileError{}
			}
			if r.Err != nil {
				j.Error = r.Err.Error()
			}
			out.Automations = append(out.Automations, j)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			printRunResult(stdout, r)
		}
	}
	if failures > 0 {
		return failed(fmt.Errorf("%d of %s failed", failures, count(len(results), "automation", "automations")))
	}
	return nil
}

func printRunResult(w io.Writer, r automation.RunResult) {
	switch {
	case r.Err != nil:
		fmt.Fprintf(w, "%s: failed: %v\n", r.Key(), r.Err)
	case r.DryRun && len(r.Changes) > 0:
		fmt.Fprintf(w, "%s: dry run: would push %s to %s\n", r.Key(), count(len(r.Changes), "change", "changes"), r.Branch)
	case r.DryRun:
		fmt.Fprintf(w, "%s: dry run: nothing to do, %s is up to date\n", r.Key(), r.Branch)
	case r.Pushed:
		fmt.Fprintf(w, "%s: pushed %s to %s (%s", r.Key(), short(r.Commit), r.Branch, count(len(r.Changes), "change", "changes"))
		if r.Attempts > 1 {
			fmt.Fprintf(w, ", %d attempts", r.Attempts)
		}
		fmt.Fprintln(w, ")")
	case r.NothingToDo:
		fmt.Fprintf(w, "%s: nothing to do, %s is up to date\n", r.Key(), r.Branch)
	}
	for _, c := range r.Changes {
		fmt.Fprintf(w, "  %s:%d: %s → %s (%s)\n", c.File, c.Line, c.Old, c.New, c.Setter)
	}
	for _, k := range r.Kept {
		fmt.Fprintf(w, "  %s:%d: kept %s: %s (%s)\n", k.File, k.Line, k.Old, k, k.Setter)
	}
	if r.PullRequest != "" {
		fmt.Fprintf(w, "  pull request: %s\n", r.PullRequest)
	}
	for _, g := range r.Groups {
		switch {
		case g.Closed:
			fmt.Fprintf(w, "  closed the pull request from %s: its change is no longer needed\n", g.Branch)
		case g.PullRequest != "":
			fmt.Fprintf(w, "  group %s: %s on %s, pull request: %s\n", g.Group, count(len(g.Changes), "change", "changes"), g.Branch, g.PullRequest)
		}
	}
	for _, e := range r.Warnings {
		fmt.Fprintf(w, "  warning: %v\n", e)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %v\n", e)
	}
	if r.Diff != "" {
		fmt.Fprint(w, r.Diff)
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// loopOptions are the loop's options of hoist run's flags.
func (o runOptions) loopOptions(logger *slog.Logger, stderr io.Writer) automation.Options {
	opts := o.reg.options(logger, stderr)
	opts.Git = automation.GitOptions{TokenFile: o.tokenFile, TokenEnv: o.tokenEnv, SSHKey: o.sshKey, KnownHosts: o.sshHosts}
	opts.DryRun = o.dryRun
	return opts
}
