// Package automation is hoist's loop: what one run of an
// ImageUpdateAutomation does, from its documents to its push. The drivers
// that decide when runs happen live elsewhere: the command line's one-shot
// run (RunOnce, from cmd/hoist), the long-running service (package service:
// schedules, batches, configuration watching, webhooks, HTTP) and the
// Kubernetes controller (package controller), a Source of documents and
// an Observer of results for the service's scheduling. Each behaviour of a run lives here,
// once.
//
// The story of a run (Runner.RunKnown, one short function): resolve the
// automation's Target from its documents once (the Git remote parsed once,
// the branch, the credentials from its secretRef or the Runner's, and the
// forge of its pull requests); sync that branch into the Git cache (package
// writeback/git); read how it commits and pushes (publishing: author,
// message template, signing key, push branch and its lease from the state
// store); then git's Update calls the planner's edit, which loads the
// policies the automation selects (the configuration's and the
// repository's own), takes the selections the driver already knows (Known)
// or scans the registries for the others (Scanner, package registry),
// plans the edits (package writeback, pure) and writes them; Update commits
// the writeback.Change values the edit returns (the same values render the
// commit message) and pushes, and after a push lost to another writer
// fetches and calls edit again with the first attempt's selections.
// Then the push is recorded (automation/state), the pull request opened or
// updated with a table of those changes, and the success recorded. The
// RunResult carries the same changes to the driver: the JSON of hoist run,
// the service's status and the controller's.
//
// Options is what a driver knows from its flags; New builds the Runner
// (registry client and cache, state store, Git credentials) in one place.
//
// The packages lean on each other in one direction:
//
//	cmd/hoist ──► service ──► automation ──► registry                   (scan: tags, metadata)
//	    │            │            ├────────► writeback                  (plan, write: pure planning)
//	    │            │            ├────────► writeback/git, pullrequest (commit, push, pull request)
//	    │            │            ├────────► automation/state           (memory across restarts)
//	    │            │            └────────► policy                     (select: pure)
//	    │            └──────────► registry/webhook
//	    ├──► controller ──► service (Source of the API server's documents, Observer of results)
//	    └──► automation (run --once, scan, update); all of them ──► config ──► policy
//
// writeback/git and writeback/pullrequest take writeback's Change; writeback
// knows nothing of registries, registry nothing of Git, and nothing imports
// cmd/hoist.
package automation
