// Package service drives hoist's loop (package automation) as a
// long-running process: hoist run without --once. The loop itself, what one
// run of an ImageUpdateAutomation does, lives in automation; this package
// decides when runs happen and shows what they did:
//
//   - ConfigWatcher reloads the configuration files when they change;
//   - Scheduler scans each ImageRepository on its interval, and runs each
//     automation on its own;
//   - registry webhooks (package registry/webhook) trigger rescans;
//   - Batcher gathers the selection changes of one Git repository and
//     branch into one run, so that they make one commit;
//   - Handler serves /hook/, /metrics, /status, /healthz and /readyz.
//
// The command line's one-shot run (hoist run --once) calls
// automation.Runner.RunAll directly; the Kubernetes controller will be a
// third driver of the same loop.
package service
