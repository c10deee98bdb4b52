package git

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzWithoutCredentials checks that the remote Validate keeps (parsed
// once) is the remote its String form parses to, as Sync parsed it before.
func FuzzWithoutCredentials(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/fleet.git", "https://u:p@h:1/x", "https://TOKEN@h/x", "ssh://git@h/x", "ssh://git@h:2222/x.git",
		"git@h:x", "h:x", "file:///x", "https://[::1]:8080/x", "http://h/a%20b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseRemoteURL(raw)
		if err != nil {
			return
		}
		again, err := ParseRemoteURL(r.String())
		if err != nil {
			return // FuzzParseRemoteURL's concern
		}
		if diff := cmp.Diff(again, r.withoutCredentials(), cmp.AllowUnexported(RemoteURL{})); diff != "" {
			t.Fatalf("%q: (-parsed again +withoutCredentials):\n%s", raw, diff)
		}
	})
}
