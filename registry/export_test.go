package registry

// CacheWrites counts the write transactions of c.
func CacheWrites(c *Cache) int64 { return c.writes.Load() }
