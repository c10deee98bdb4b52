package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults is an http.Handler in front of a real server that breaks chosen
// requests in the ways registries and proxies break, and logs every request
// with whether it reached the server behind it.
//
// Faults are matched in the order added; each applies to its first Times
// matching requests (0: all). A request matching no active fault passes
// through untouched.
type Faults struct {
	next http.Handler

	mu     sync.Mutex
	faults []*Fault
	log    []FaultRequest
	first  map[string][]byte // first tag list page per path, for ReplayFirstPage
}

// Fault is one rule of a Faults handler.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path is a regular expression matched against the URL path; "" matches
	// any. Use TagsPath, ManifestsPath and BlobsPath for the usual ones.
	Path string
	// Times is how many matching requests get the fault; 0 means every one.
	Times int
	// Do is the fault.
	Do FaultAction

	re   *regexp.Regexp
	used int
}

// Paths of the registry API, for Fault.Path.
const (
	TagsPath      = `/tags/list$`
	ManifestsPath = `/manifests/`
	BlobsPath     = `/blobs/`
	PingPath      = `^/v2/$`
)

// FaultAction handles a request that matched a fault; it calls next to let
// the request reach the server behind.
type FaultAction func(w http.ResponseWriter, r *http.Request, next http.Handler, f *Faults)

// FaultRequest is one logged request.
type FaultRequest struct {
	Method string
	Path   string
	Query  string
	// Reached is true when the request got to the server behind.
	Reached bool
	// Fault is the name of the fault applied, "" for none.
	Fault string
}

// NewFaults wraps next.
func NewFaults(next http.Handler) *Faults {
	return &Faults{next: next, first: make(map[string][]byte)}
}

// Add adds a fault and returns the Faults for chaining. A bad Path panics.
func (f *Faults) Add(fault Fault) *Faults {
	fault.re = regexp.MustCompile(fault.Path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault)
	return f
}

// Clear removes every fault and empties the log.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
	f.log = nil
	clear(f.first)
}

// ResetLog empties the request log (for example after pushing test images).
func (f *Faults) ResetLog() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = nil
}

// Log returns a copy of the logged requests.
func (f *Faults) Log() []FaultRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FaultRequest(nil), f.log...)
}

// Reached counts the logged requests that reached the server and match
// method ("" any) and the path expression ("" any).
func (f *Faults) Reached(method, path string) int {
	re := regexp.MustCompile(path)
	n := 0
	for _, r := range f.Log() {
		if r.Reached && (method == "" || r.Method == method) && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

// Seen counts the logged requests matching method and path, whether they
// reached the server or not.
func (f *Faults) Seen(method, path string) int {
	re := regexp.MustCompile(path)
	n := 0
	for _, r := range f.Log() {
		if (method == "" || r.Method == method) && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var action FaultAction
	name := ""
	f.mu.Lock()
	for _, ft := range f.faults {
		if (ft.Method == "" || ft.Method == r.Method) && ft.re.MatchString(r.URL.Path) && (ft.Times == 0 || ft.used < ft.Times) {
			ft.used++
			action = ft.Do
			name = fmt.Sprintf("%s %s #%d", ft.Method, ft.Path, ft.used)
			break
		}
	}
	i := len(f.log)
	f.log = append(f.log, FaultRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Fault: name})
	f.mu.Unlock()

	// The request counts as reached when it is handed to the server, before
	// the client can see an answer.
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if i < len(f.log) {
			f.log[i].Reached = true
		}
		f.mu.Unlock()
		f.next.ServeHTTP(w, r)
	})
	if action == nil {
		next.ServeHTTP(w, r)
		return
	}
	action(w, r, next, f)
}

// Status answers with a status code and header pairs ("Retry-After", "1"),
// without reaching the server.
func Status(code int, headerPairs ...string) FaultAction {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler, _ *Faults) {
		for i := 0; i+1 < len(headerPairs); i += 2 {
			w.Header().Set(headerPairs[i], headerPairs[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"errors":[{"code":"FAULT","message":"injected %d"}]}`, code)
	}
}

// RegistryError answers with a status and a registry error body in
// Distribution's format ({"errors":[{"code","message"}]}), without reaching
// the server: for answers a real registry gives but the test registry does
// not, such as Harbor's 403 DENIED.
func RegistryError(status int, code, message string) FaultAction {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler, _ *Faults) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
		_, _ = w.Write(body)
	}
}

// PassWithHeaders lets the request reach the server and adds header pairs
// to the answer (for example Docker Hub's RateLimit-Remaining).
func PassWithHeaders(headerPairs ...string) FaultAction {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *Faults) {
		for i := 0; i+1 < len(headerPairs); i += 2 {
			w.Header().Set(headerPairs[i], headerPairs[i+1])
		}
		next.ServeHTTP(w, r)
	}
}

// CutBody lets the request reach the server, then sends its status, its
// headers (with the full Content-Length) and only the first half of its body
// before closing the connection.
func CutBody() FaultAction {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *Faults) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("testenv: CutBody needs a hijackable connection")
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		// The client sees the cut; errors writing to it do not matter.
		writeHead(buf, rec, len(body))
		_, _ = buf.Write(body[:len(body)/2])
		_ = buf.Flush()
	}
}

func writeHead(buf *bufio.ReadWriter, rec *httptest.ResponseRecorder, length int) {
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
	h := rec.Header().Clone()
	h.Set("Content-Length", strconv.Itoa(length))
	h.Set("Connection", "close")
	_ = h.Write(buf)
	_, _ = buf.WriteString("\r\n")
}

// Stall holds the request without answering for d, or until the client
// gives up, then drops the connection. It never reaches the server.
func Stall(d time.Duration) FaultAction {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler, _ *Faults) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
	}
}

// LinkToHost lets the request reach the server and rewrites the host of its
// Link header to host (a pagination link to another server).
func LinkToHost(host string) FaultAction {
	return rewriteLink(func(r *http.Request, u *url.URL) {
		u.Scheme = "http"
		u.Host = host
	})
}

// LinkToSelf lets the request reach the server and makes its Link header
// point to the page just served (a registry that repeats a page).
func LinkToSelf() FaultAction {
	return rewriteLink(func(r *http.Request, u *url.URL) {
		*u = *r.URL
		u.Scheme, u.Host = "", ""
	})
}

// LinkTo lets the request reach the server and makes its Link header point
// to target, a path with query (a registry that links back to a page).
func LinkTo(target string) FaultAction {
	return rewriteLink(func(r *http.Request, u *url.URL) {
		if t, err := url.Parse(target); err == nil {
			*u = *t
		}
	})
}

// rewriteLink serves the request and edits the target of its Link header
// (adding one, rel="next", to a last page).
func rewriteLink(edit func(*http.Request, *url.URL)) FaultAction {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *Faults) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		l := rec.Header().Get("Link")
		if l == "" {
			l = `<>; rel="next"`
		}
		start, end := strings.IndexByte(l, '<'), strings.IndexByte(l, '>')
		if start >= 0 && end > start {
			if u, err := url.Parse(l[start+1 : end]); err == nil {
				edit(r, u)
				rec.Header().Set("Link", "<"+u.String()+">"+l[end+1:])
			}
		}
		copyRecorded(w, rec)
	}
}

// ReplayFirstPage lets the request reach the server, but answers with the
// body of the first page served for the same path (a registry whose pages
// repeat under new URLs), keeping a Link to a further page.
func ReplayFirstPage() FaultAction {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, f *Faults) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		f.mu.Lock()
		first, ok := f.first[r.URL.Path]
		if !ok {
			f.first[r.URL.Path] = append([]byte(nil), rec.Body.Bytes()...)
		}
		f.mu.Unlock()
		if ok {
			rec.Body.Reset()
			rec.Body.Write(first)
			q := r.URL.Query()
			q.Set("last", q.Get("last")+"~")
			rec.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
		}
		copyRecorded(w, rec)
	}
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
