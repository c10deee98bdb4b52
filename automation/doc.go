// Package automation ties hoist's loop together: scan registries, select
// tags, plan and write manifest edits, commit and push. The command line,
// the service and the Kubernetes controller all drive the loop through this
// package, so each behaviour lives in one place.
package automation
