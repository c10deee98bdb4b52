package git

// RereadAtRest makes a Sync with o read the head's commit and tree,
// rewrite the references and fetch through go-git every time, as before a
// cache at rest was trusted.
func RereadAtRest(o *SyncOptions) { o.reread = true }
