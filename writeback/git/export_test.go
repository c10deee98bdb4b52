package git

// RereadAtRest makes a Sync with o read the head's commit and tree,
// rewrite the references and negotiate a fetch every time, as before a
// cache at rest was trusted.
func RereadAtRest(o *SyncOptions) { o.reread = true }
