// Package state is hoist's memory across restarts: one bbolt file under the
// state directory (Path) with the last selection of each policy, the last
// commit each automation pushed (the lease of its push branch) and when each
// automation last succeeded. The loop (package automation) records pushes
// and successes; the service records selections and serves them at /status.
package state
