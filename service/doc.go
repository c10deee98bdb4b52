// Package service drives hoist's loop (package automation) as a
// long-running process: hoist run without --once. What one run of an
// automation does lives in automation; this package decides when runs
// happen and shows what they did:
//
//   - a Source delivers the configuration: by default the files of
//     ServiceOptions.ConfigPaths, which a ConfigWatcher reloads when they
//     change; the Kubernetes controller (package controller) is a Source of
//     the API server's documents;
//   - a Scheduler scans each ImageRepository on its interval, and runs each
//     automation on its own;
//   - registry webhooks (package registry/webhook) trigger rescans;
//   - a Batcher gathers the selection changes of one Git repository and
//     branch into one run, so that they make one commit;
//   - an Observer, when set, receives each scan's selections and each run's
//     result (the controller writes them into its documents' status);
//   - Handler serves /hook/, /metrics, /status, /healthz and /readyz.
//
// Start and Server.Serve are hoist run's service as a whole: metrics, the
// Runner of automation.Options, the Service and its listeners. The command
// line's one-shot run (automation.RunOnce) is the other driver of the same
// loop.
package service
