package testenv

import (
	"net/http"
	"strings"
	"testing"
)

func TestGitServer(t *testing.T) {
	s := NewGitServer(t, GitServerOptions{Username: "u", Password: "p"})
	url := s.CreateRepo(t, "fleet.git", "main")
	head := GitCommitFiles(t, s.RepoDir("fleet.git"), "main", "init", map[string]string{"a.txt": "a\n"})

	resp, err := http.Get(url + "/info/refs?service=git-upload-pack")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %s, want 401", resp.Status)
	}

	authed := strings.Replace(url, "http://", "http://u:p@", 1)
	out := GitCLI(t, "", "ls-remote", authed, "refs/heads/main")
	if !strings.HasPrefix(out, head) {
		t.Errorf("ls-remote = %q, want %s", out, head)
	}
	if tr := s.Traffic(); tr.Requests < 2 || tr.BytesOut == 0 {
		t.Errorf("traffic = %+v", tr)
	}
	s.ResetTraffic()
	if tr := s.Traffic(); tr != (GitTraffic{}) {
		t.Errorf("after ResetTraffic: %+v", tr)
	}
}
