package registry

import "fmt"

// CacheWrites counts the write transactions of c.
func CacheWrites(c *Cache) int64 { return c.writes.Load() }

// Kept counts what c keeps per repository: parsed names, connections and
// one-page sums.
func Kept(c *Client) (refs, conns, pages int) {
	c.refs.Range(func(any, any) bool { refs++; return true })
	c.mu.Lock()
	defer c.mu.Unlock()
	return refs, len(c.conns), len(c.pages)
}

// CopyPages makes c copy each tag list page out of its reused buffer
// before looking at it, as before pages were summed in the buffer.
func CopyPages(c *Client) { c.copyPages = true }

// SHA256Pages makes c hash one-page bodies with SHA-256, as before
// bodyHash used hash/maphash.
func SHA256Pages(c *Client) { c.sha256Pages = true }

// TagListPage is a one-page tag list body of n tags in order (1.0.0,
// 1.0.1, ... 1.0.24, 1.1.0, ...), as the benchmarks' in-memory registries
// serve it.
func TagListPage(n int) []byte {
	body := []byte(`{"name":"x","tags":[`)
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `"1.%d.%d"`, i/25, i%25)
	}
	return append(body, "]}"...)
}
