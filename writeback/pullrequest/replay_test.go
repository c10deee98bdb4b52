package pullrequest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// exchange is one recorded API call: the request hoist must send and the
// recorded response the server answers with.
type exchange struct {
	method string
	// path is the escaped path; query holds the expected query parameters.
	path  string
	query url.Values
	// body is the expected JSON request body, or "" for none.
	body string
	// status and file are the response (file under testdata/FORGE/).
	status int
	file   string
}

// replayServer serves a script of exchanges in order on 127.0.0.1 and fails
// the test when a request differs from the script. No real GitHub or
// GitLab server can run here, so their API mapping is tested against
// recorded responses; Gitea is tested against the real thing.
type replayServer struct {
	t      *testing.T
	dir    string
	auth   func(*http.Request) bool
	mu     sync.Mutex
	script []exchange
	next   int
	URL    string
}

func newReplayServer(t *testing.T, forge string, auth func(*http.Request) bool, script []exchange) *replayServer {
	t.Helper()
	s := &replayServer{t: t, dir: filepath.Join("testdata", forge), auth: auth, script: script}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		if s.next != len(s.script) {
			t.Errorf("%d of %d recorded exchanges were used", s.next, len(s.script))
		}
	})
	s.URL = srv.URL
	return s
}

func (s *replayServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.auth(r) {
		s.t.Errorf("%s %s: missing or wrong credentials", r.Method, r.URL)
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	if s.next >= len(s.script) {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, `{"message":"unexpected"}`, http.StatusTeapot)
		return
	}
	ex := s.script[s.next]
	s.next++
	got := []string{r.Method, r.URL.EscapedPath()}
	if diff := cmp.Diff([]string{ex.method, ex.path}, got); diff != "" {
		s.t.Errorf("request %d (-want +got):\n%s", s.next, diff)
	}
	if diff := cmp.Diff(ex.query, r.URL.Query(), cmp.Comparer(func(a, b url.Values) bool {
		return cmp.Equal(map[string][]string(a), map[string][]string(b)) || (len(a) == 0 && len(b) == 0)
	})); diff != "" {
		s.t.Errorf("request %d %s query (-want +got):\n%s", s.next, ex.path, diff)
	}
	body, _ := io.ReadAll(r.Body)
	if ex.body != "" || len(body) > 0 {
		var want, gotBody any
		if err := json.Unmarshal([]byte(ex.body), &want); err != nil {
			s.t.Errorf("request %d: bad expected body %q: %v", s.next, ex.body, err)
		}
		if err := json.Unmarshal(body, &gotBody); err != nil {
			s.t.Errorf("request %d: body %q is not JSON: %v", s.next, body, err)
		}
		if diff := cmp.Diff(want, gotBody); diff != "" {
			s.t.Errorf("request %d %s %s body (-want +got):\n%s", s.next, ex.method, ex.path, diff)
		}
	}
	resp, err := os.ReadFile(filepath.Join(s.dir, ex.file))
	if err != nil {
		s.t.Errorf("reading recorded response: %v", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(ex.status)
	_, _ = w.Write(resp)
}
