package registry_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestFirstScanRequests counts what the first scans of the repositories of
// one registry (token authentication) cost, at the registry (its Faults
// handler logs every request) and at its token server: the registry is
// pinged once per host, not once per repository, even when the scans start
// together; each repository then costs its token (a token's scope is one
// repository) and its tag list. The ping's answer is kept an hour.
// Regression test: each repository used to ping the registry again.
func TestFirstScanRequests(t *testing.T) {
	const repos = 8
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	for i := range repos + 1 {
		reg.PushImage(t, fmt.Sprintf("app%d", i), "1.0.0", testenv.ImageOptions{})
	}
	kc := secretFor(t, reg.Host, reg.Username, reg.Password)
	clock := newFakeClock()
	c := newClient(t, clock)
	list := func(i int) {
		if _, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(fmt.Sprintf("app%d", i), ""), Keychain: kc}); err != nil {
			t.Error(err)
		}
	}
	type cost struct{ Pings, TagLists, Other, Tokens int }
	measure := func(scan func()) cost {
		reg.Faults.ResetLog()
		tokens := reg.Token.Requests()
		scan()
		got := cost{
			Pings:    reg.Faults.Seen("GET", `^/v2/$`),
			TagLists: reg.Faults.Seen("GET", testenv.TagsPath),
			Tokens:   int(reg.Token.Requests() - tokens),
		}
		got.Other = len(reg.Faults.Log()) - got.Pings - got.TagLists
		return got
	}

	steps := []struct {
		name string
		scan func()
		want cost
	}{
		{"first scans, one after another", func() {
			for i := range repos / 2 {
				list(i)
			}
		}, cost{Pings: 1, TagLists: repos / 2, Tokens: repos / 2}},
		{"first scans, together", func() {
			var wg sync.WaitGroup
			for i := repos / 2; i < repos; i++ {
				wg.Go(func() { list(i) })
			}
			wg.Wait()
		}, cost{TagLists: repos / 2, Tokens: repos / 2}},
		{"rescans", func() {
			for i := range repos {
				list(i)
			}
		}, cost{TagLists: repos}},
		{"an hour later, a new repository", func() {
			clock.Advance(time.Hour)
			list(repos)
		}, cost{Pings: 1, TagLists: 1, Tokens: 1}},
	}
	for _, s := range steps {
		if diff := cmp.Diff(s.want, measure(s.scan)); diff != "" {
			t.Errorf("%s: requests (-want +got):\n%s", s.name, diff)
		}
	}

	// A new client's first scans that start together wait for one ping.
	fresh := newClient(t, clock)
	got := measure(func() {
		var wg sync.WaitGroup
		for i := range repos {
			wg.Go(func() {
				if _, err := fresh.ListTags(t.Context(), registry.Repo{Image: reg.Ref(fmt.Sprintf("app%d", i), ""), Keychain: kc}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	})
	if diff := cmp.Diff(cost{Pings: 1, TagLists: repos, Tokens: repos}, got); diff != "" {
		t.Errorf("a new client's first scans, together (-want +got):\n%s", diff)
	}
}
