package git

// RereadAtRest makes a Sync with o read the head's commit and tree,
// rewrite the references and fetch through go-git every time, as before a
// cache at rest was trusted.
func RereadAtRest(o *SyncOptions) { o.reread = true }

// ClonesTaken counts the Syncs that took a clone cl kept: reused with the
// same packfiles, or found stale (and opened the clone afresh).
func ClonesTaken(cl *Clones) (reused, stale int) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.reused, cl.stale
}
