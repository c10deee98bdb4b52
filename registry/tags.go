package registry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// TagList is a repository's tags, in the registry's order, without
// duplicates.
type TagList struct {
	Tags []string
	// FetchedAt is when the registry gave this list.
	FetchedAt time.Time
	// Sum is the SHA-256 of Tags, each followed by a newline: two lists
	// with one Sum are equal, so a caller can keep what it computed from
	// the last list and skip the work when the next one is the same.
	Sum [32]byte
	// Stale is true when the registry failed transiently and the list is
	// the last good one from the cache; Err says why the fresh listing
	// failed.
	Stale bool
	Err   error
	// Unchanged is true when the registry gave the list whose Sum the
	// caller passed as Repo.KnownSum; Tags is then nil (see KnownSum).
	Unchanged bool
}

// ListTags lists every tag of a repository, following the registry's Link
// headers across all pages (asking for pages of WithPageSize tags). It refuses
// a Link to another host and stops with ErrPagination on a page that repeats.
//
// When listing fails transiently (ClassifyError says FailureTransient: no
// connection, a timeout, 429, 5xx) and the cache holds an earlier list, that
// list is returned with Stale set and the failure in Err, and the error is
// nil. Any other failure, a refusal of the credentials (401, 403) or a
// repository the registry no longer has (404, NAME_UNKNOWN) among them, is
// returned as an error whatever the cache holds: a cached answer never hides
// it.
//
// With r.KnownSum set, a one-page answer whose bytes are those of the list
// of that sum is not decoded: the TagList is Unchanged, without Tags. At
// 5-minute intervals most lists are unchanged, and a caller that keeps what
// it computed from the last one (a selection, the latest tags) skips the
// decoding and hashing of every tag.
func (c *Client) ListTags(ctx context.Context, r Repo) (TagList, error) {
	ref, err := c.parseRepo(r)
	if err != nil {
		return TagList{}, err
	}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	repo := ref.Name()
	tags, body, unchanged, err := c.listTags(ctx, ref, repo, r)
	if err == nil {
		now := c.o.clock.Now()
		if unchanged {
			c.o.cache.confirmTags(repo, r.KnownSum, now)
			return TagList{FetchedAt: now, Sum: r.KnownSum, Unchanged: true}, nil
		}
		sum := sumTags(tags)
		if body.onePage {
			c.mu.Lock()
			c.pages[repo] = pageSum{body: body.hash, tags: sum}
			c.mu.Unlock()
		}
		c.o.cache.putTags(repo, tagsEntry{FetchedAt: now, Tags: tags}, sum)
		return TagList{Tags: tags, FetchedAt: now, Sum: sum}, nil
	}
	err = fmt.Errorf("listing tags of %s: %w", repo, err)
	if ClassifyError(err) != FailureTransient {
		return TagList{}, err
	}
	if e, ok := c.o.cache.tags(repo); ok {
		return TagList{Tags: e.Tags, FetchedAt: e.FetchedAt, Sum: sumTags(e.Tags), Stale: true, Err: err}, nil
	}
	return TagList{}, err
}

// knownPage reports whether body (its bodyHash) is the one-page list of
// repo whose tags' sum is known.
func (c *Client) knownPage(repo string, body uint64, known [32]byte) bool {
	if known == ([32]byte{}) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pages[repo] == pageSum{body: body, tags: known}
}

// pageHash is the hash of a one-page list's body (onePage false for a
// list of several pages, which has none).
type pageHash struct {
	hash    uint64
	onePage bool
}

// bodyHash hashes a one-page list's body, to tell at the next scan whether
// the registry sent the same bytes. The hash stays in this process's
// memory, so a fast seeded hash does (hash/maphash, under a microsecond for
// a page of 1,000 tags, where SHA-256 took 6): a registry that wanted hoist
// to keep an old list could send it, so a collision it could aim at (it
// cannot: the seed is random and never leaves the process) would gain it
// nothing, and a chance one is 1 in 2^64 per rescan.
func (c *Client) bodyHash(body []byte) uint64 {
	if c.sha256Pages {
		s := sha256.Sum256(body)
		return binary.LittleEndian.Uint64(s[:8])
	}
	return maphash.Bytes(c.seed, body)
}

// listTags returns the tags, and for a list of one page the hash of its
// body; unchanged when that body is the one r.KnownSum's list came in
// (tags nil then, the body not decoded).
func (c *Client) listTags(ctx context.Context, ref name.Repository, repo string, r Repo) ([]string, pageHash, bool, error) {
	var none pageHash
	cn, err := c.connect(ctx, ref, repo, r)
	if err != nil {
		return nil, none, false, err
	}
	first := &url.URL{
		Scheme:   cn.scheme,
		Host:     ref.RegistryStr(),
		Path:     "/v2/" + ref.RepositoryStr() + "/tags/list",
		RawQuery: "n=" + strconv.Itoa(c.o.pageSize),
	}
	var (
		tags []string
		have map[string]struct{}
		// What was fetched, against loops; made at the second page (a
		// list of one page, the common case, needs none).
		seenURL  map[string]int
		seenLast map[string]int
		seenPage map[[32]byte]int
	)
	next, nextURL := first, first.String()
	for page := 1; ; page++ {
		if page > c.o.maxPages {
			return nil, none, false, fmt.Errorf("%w: more than %d pages", ErrPagination, c.o.maxPages)
		}
		// The page is read in the body's buffer, which is reused: an
		// unchanged list costs its sum, not a copy.
		var (
			link      string
			ok        bool
			bodySum   pageHash
			known     bool
			pageTags  []string
			pageError error
		)
		fetch := cn.doFunc
		if c.copyPages {
			fetch = cn.doCopy
		}
		_, err := fetch(ctx, "GET", nextURL, nil, func(body []byte, header http.Header) {
			var err error
			if link, ok, err = nextLink(header.Values("Link")); err != nil {
				pageError = fmt.Errorf("%w: page %d: %w", ErrPagination, page, err)
				return
			}
			if page == 1 && !ok {
				// One page, the common case: the same bytes are the
				// same list, and nothing can repeat.
				bodySum = pageHash{hash: c.bodyHash(body), onePage: true}
				if known = c.knownPage(repo, bodySum.hash, r.KnownSum); known {
					return
				}
			}
			if pageTags, err = decodeTagList(body); err != nil {
				pageError = fmt.Errorf("page %d: decoding tag list: %s", page, jsonErrorWithoutInput(err))
			}
		})
		switch {
		case err != nil:
			return nil, none, false, fmt.Errorf("page %d: %w", page, err)
		case pageError != nil:
			return nil, none, false, pageError
		case known:
			return nil, bodySum, true, nil
		}
		if page == 1 && !ok {
			return dedupe(pageTags), bodySum, false, nil
		}
		if seenURL == nil {
			seenURL, seenLast, seenPage = make(map[string]int), make(map[string]int), make(map[[32]byte]int)
		}
		seenURL[nextURL] = page
		if last := next.Query().Get("last"); last != "" {
			seenLast[last] = page
		}
		sum := sumTags(pageTags)
		if p, ok := seenPage[sum]; ok {
			return nil, none, false, fmt.Errorf("%w: page %d repeats page %d", ErrPagination, page, p)
		}
		seenPage[sum] = page
		if have == nil {
			have = make(map[string]struct{}, len(pageTags))
		}
		for _, t := range pageTags {
			if _, dup := have[t]; !dup {
				have[t] = struct{}{}
				tags = append(tags, t)
			}
		}
		if !ok {
			return tags, none, false, nil
		}
		u, err := next.Parse(link)
		if err != nil {
			return nil, none, false, fmt.Errorf("%w: page %d: Link target is not a URL", ErrPagination, page)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, none, false, fmt.Errorf("%w: page %d: Link with scheme %q refused", ErrPagination, page, u.Scheme)
		}
		if !strings.EqualFold(u.Host, first.Host) {
			return nil, none, false, fmt.Errorf("%w: page %d: Link to another host %q refused (registry is %q)", ErrPagination, page, u.Host, first.Host)
		}
		if p, ok := seenURL[u.String()]; ok {
			return nil, none, false, fmt.Errorf("%w: page %d links back to page %d", ErrPagination, page, p)
		}
		if last := u.Query().Get("last"); last != "" {
			if p, ok := seenLast[last]; ok {
				return nil, none, false, fmt.Errorf("%w: page %d links to last=%q, already fetched as page %d", ErrPagination, page, last, p)
			}
		}
		next, nextURL = u, u.String()
	}
}

// dedupe drops the repeats of tags, keeping the first of each, in place.
// A list in order, as Distribution and most registries send it, has its
// repeats next to each other: it is compacted without a set.
func dedupe(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	if slices.IsSorted(tags) {
		return slices.Compact(tags)
	}
	return dedupeUnsorted(tags)
}

// dedupeUnsorted is dedupe of a list in any order.
func dedupeUnsorted(tags []string) []string {
	have := make(map[string]struct{}, len(tags))
	out := tags[:0]
	for _, t := range tags {
		if _, dup := have[t]; !dup {
			have[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}

// nextLink returns the target of the rel="next" link among Link header
// values (RFC 8288). A single link without rel is taken as next, as some
// registries send it so.
func nextLink(values []string) (string, bool, error) {
	var links []link
	for _, v := range values {
		ls, err := parseLinkHeader(v)
		if err != nil {
			return "", false, err
		}
		links = append(links, ls...)
	}
	for _, l := range links {
		for _, r := range l.Rel {
			if strings.EqualFold(r, "next") {
				return l.Target, true, nil
			}
		}
	}
	if len(links) == 1 && len(links[0].Rel) == 0 {
		return links[0].Target, true, nil
	}
	return "", false, nil
}

// link is one link-value of a Link header.
type link struct {
	Target string
	Rel    []string
}

// parseLinkHeader parses a Link header field value: comma-separated
// `<URI-Reference>; param=value; param="quoted"` items.
func parseLinkHeader(v string) ([]link, error) {
	var out []link
	s := strings.TrimSpace(v)
	for s != "" {
		if s[0] == ',' {
			s = strings.TrimSpace(s[1:])
			continue
		}
		if s[0] != '<' {
			return nil, fmt.Errorf("invalid Link header: expected '<' at %q", shorten(s))
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return nil, fmt.Errorf("invalid Link header: missing '>'")
		}
		l := link{Target: strings.TrimSpace(s[1:end])}
		s = strings.TrimSpace(s[end+1:])
		for len(s) > 0 && s[0] == ';' {
			s = strings.TrimSpace(s[1:])
			var key, val string
			i := strings.IndexAny(s, "=;,")
			if i < 0 {
				key, s = s, ""
			} else {
				key = s[:i]
				s = s[i:]
			}
			key = strings.ToLower(strings.TrimSpace(key))
			if len(s) > 0 && s[0] == '=' {
				s = strings.TrimSpace(s[1:])
				var err error
				val, s, err = linkParamValue(s)
				if err != nil {
					return nil, err
				}
			}
			if key == "rel" && len(l.Rel) == 0 {
				l.Rel = strings.Fields(val)
			}
			s = strings.TrimSpace(s)
		}
		if len(s) > 0 && s[0] != ',' {
			return nil, fmt.Errorf("invalid Link header: unexpected %q", shorten(s))
		}
		out = append(out, l)
	}
	return out, nil
}

// linkParamValue reads a token or a quoted string and returns the rest.
func linkParamValue(s string) (string, string, error) {
	if s == "" || s[0] != '"' {
		i := strings.IndexAny(s, ";,")
		if i < 0 {
			return strings.TrimSpace(s), "", nil
		}
		return strings.TrimSpace(s[:i]), s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", fmt.Errorf("invalid Link header: unterminated quoted string")
}

// shorten keeps error messages about headers short.
func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
