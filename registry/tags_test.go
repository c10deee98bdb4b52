package registry_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// manyTags returns n tags "t0000", "t0001", ...
func manyTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%04d", i)
	}
	return tags
}

func TestListTagsAuth(t *testing.T) {
	tests := map[string]struct {
		opts testenv.RegistryOptions
		// creds: "right", "wrong" or "" (anonymous).
		creds   string
		wantErr error
	}{
		"anonymous registry":               {opts: testenv.RegistryOptions{}},
		"basic auth":                       {opts: testenv.RegistryOptions{Auth: testenv.AuthBasic}, creds: "right"},
		"basic auth, wrong password":       {opts: testenv.RegistryOptions{Auth: testenv.AuthBasic}, creds: "wrong", wantErr: registry.ErrUnauthorized},
		"basic auth, anonymous":            {opts: testenv.RegistryOptions{Auth: testenv.AuthBasic}, wantErr: registry.ErrUnauthorized},
		"token auth":                       {opts: testenv.RegistryOptions{Auth: testenv.AuthToken}, creds: "right"},
		"token auth, wrong password":       {opts: testenv.RegistryOptions{Auth: testenv.AuthToken}, creds: "wrong", wantErr: registry.ErrUnauthorized},
		"token auth, anonymous refused":    {opts: testenv.RegistryOptions{Auth: testenv.AuthToken}, wantErr: registry.ErrUnauthorized},
		"token auth, anonymous pull token": {opts: testenv.RegistryOptions{Auth: testenv.AuthToken, AnonymousPull: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := testenv.NewRegistry(t, tc.opts)
			d := reg.PushImage(t, "team/app", "v1.0.0", testenv.ImageOptions{})
			reg.Tag(t, "team/app", d, "v1.1.0")
			repo := registry.Repo{Image: reg.Ref("team/app", "")}
			switch tc.creds {
			case "right":
				repo.Keychain = secretFor(t, reg.Host, reg.Username, reg.Password)
			case "wrong":
				repo.Keychain = secretFor(t, reg.Host, reg.Username, "not-"+reg.Password)
			}
			c := newClient(t, newFakeClock())
			got, err := c.ListTags(t.Context(), repo)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ListTags error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v1.0.0", "v1.1.0"}, got.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}

// secretFor parses a .dockerconfigjson with credentials for host.
func secretFor(t testing.TB, host, user, password string) *registry.DockerConfig {
	t.Helper()
	dir := t.TempDir()
	testenv.WriteDockerConfigSecret(t, dir, "regcred", testenv.DockerConfig{
		Auths: map[string]testenv.DockerAuth{host: {Username: user, Password: password}},
	})
	kc, err := registry.ReadDockerConfigSecret(dir, "regcred")
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func TestListTagsPagination(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "app", "latest", testenv.ImageOptions{})
	reg.TagMany(t, "app", d, manyTags(2500))
	reg.Faults.ResetLog()

	c := newClient(t, newFakeClock())
	got, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref("app", "")})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"latest"}, manyTags(2500)...)
	if diff := cmp.Diff(want, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	var queries []string
	for _, r := range reg.Faults.Log() {
		if r.Path == "/v2/app/tags/list" {
			queries = append(queries, r.Query)
		}
	}
	wantQueries := []string{"n=1000", "last=t0998&n=1000", "last=t1998&n=1000"}
	if diff := cmp.Diff(wantQueries, queries); diff != "" {
		t.Errorf("tag list requests (-want +got):\n%s", diff)
	}
}

// TestListTagsKnownSum: a list asked for with the sum of the last one is
// Unchanged (no tags) when the registry answers with the same page, and
// given in full otherwise: a new tag, another sum, or several pages.
func TestListTagsKnownSum(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "one", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "one", d, "1.1.0")
	reg.TagMany(t, "many", reg.PushImage(t, "many", "latest", testenv.ImageOptions{}), manyTags(1500))
	c := newClient(t, newFakeClock())
	list := func(t *testing.T, image string, known [32]byte) registry.TagList {
		t.Helper()
		tl, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(image, ""), KnownSum: known})
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	first := list(t, "one", [32]byte{})
	firstMany := list(t, "many", [32]byte{})
	type outcome struct {
		Unchanged bool
		Tags      int
		SameSum   bool
	}
	tests := []struct {
		name  string
		image string
		push  string // a tag pushed first
		known [32]byte
		want  outcome
	}{
		{name: "no known sum: the list", image: "one", want: outcome{Tags: 2, SameSum: true}},
		{name: "the known sum, same page: unchanged", image: "one", known: first.Sum, want: outcome{Unchanged: true, SameSum: true}},
		{name: "another sum: the list", image: "one", known: [32]byte{1}, want: outcome{Tags: 2, SameSum: true}},
		{name: "a new tag: the list", image: "one", push: "1.2.0", known: first.Sum, want: outcome{Tags: 3}},
		{name: "the old sum after the new list: the list", image: "one", known: first.Sum, want: outcome{Tags: 3}},
		{name: "several pages: never unchanged", image: "many", known: firstMany.Sum, want: outcome{Tags: 1501, SameSum: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.push != "" {
				reg.Tag(t, tc.image, d, tc.push)
			}
			tl := list(t, tc.image, tc.known)
			was := first.Sum
			if tc.image == "many" {
				was = firstMany.Sum
			}
			got := outcome{Unchanged: tl.Unchanged, Tags: len(tl.Tags), SameSum: tl.Sum == was}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListTagsFaults(t *testing.T) {
	const repoName = "app"
	type counts struct{ Seen, Reached int }
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the other host: %s %s", r.Method, r.URL)
	}))
	t.Cleanup(other.Close)
	otherHost := other.Listener.Addr().String()

	tests := map[string]struct {
		faults  []testenv.Fault
		timeout time.Duration
		// want: tags on success, or an error.
		wantErr error
		// wantSleeps are the waits of the fake clock (backoff is random, so
		// only Retry-After waits are exact; -1 means "some backoff").
		wantSleeps []time.Duration
		want       counts // requests to tags/list
	}{
		"429 with Retry-After seconds": {
			faults:     []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(429, "Retry-After", "2")}},
			wantSleeps: []time.Duration{2 * time.Second},
			want:       counts{Seen: 4, Reached: 3},
		},
		"429 with Retry-After date": {
			faults: []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(429,
				"Retry-After", time.Date(2026, 1, 2, 3, 4, 35, 0, time.UTC).Format(http.TimeFormat))}},
			wantSleeps: []time.Duration{30 * time.Second},
			want:       counts{Seen: 4, Reached: 3},
		},
		"500 then success": {
			faults:     []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(500)}},
			wantSleeps: []time.Duration{-1},
			want:       counts{Seen: 4, Reached: 3},
		},
		"502 and 503 then success": {
			faults: []testenv.Fault{
				{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(502)},
				{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(503)},
			},
			wantSleeps: []time.Duration{-1, -1},
			want:       counts{Seen: 5, Reached: 3},
		},
		"response cut mid-body": {
			faults:     []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.CutBody()}},
			wantSleeps: []time.Duration{-1},
			want:       counts{Seen: 4, Reached: 4},
		},
		"stalled response": {
			faults:     []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.Stall(10 * time.Second)}},
			wantSleeps: []time.Duration{-1},
			want:       counts{Seen: 4, Reached: 3},
		},
		"503 every time": {
			faults:     []testenv.Fault{{Path: testenv.TagsPath, Do: testenv.Status(503)}},
			wantErr:    errors.New("503 Service Unavailable"),
			wantSleeps: []time.Duration{-1, -1, -1},
			want:       counts{Seen: 4, Reached: 0},
		},
		"429 whose Retry-After passes the deadline": {
			faults:  []testenv.Fault{{Path: testenv.TagsPath, Do: testenv.Status(429, "Retry-After", "3600")}},
			timeout: time.Minute,
			wantErr: registry.ErrRateLimited,
			want:    counts{Seen: 1, Reached: 0},
		},
		"Link to another host": {
			faults:  []testenv.Fault{{Path: testenv.TagsPath, Do: testenv.LinkToHost(otherHost)}},
			wantErr: registry.ErrPagination,
			want:    counts{Seen: 1, Reached: 1},
		},
		"Link to the same page": {
			faults:  []testenv.Fault{{Path: testenv.TagsPath, Times: 1, Do: testenv.LinkToSelf()}},
			wantErr: registry.ErrPagination,
			want:    counts{Seen: 1, Reached: 1},
		},
		"a page repeated under a new URL": {
			faults:  []testenv.Fault{{Path: testenv.TagsPath, Do: testenv.ReplayFirstPage()}},
			wantErr: registry.ErrPagination,
			want:    counts{Seen: 2, Reached: 2},
		},
		"Link back to the first page": {
			faults: []testenv.Fault{
				{Path: testenv.TagsPath, Times: 1},
				{Path: testenv.TagsPath, Times: 1, Do: testenv.LinkTo("/v2/app/tags/list?n=1000")},
			},
			wantErr: registry.ErrPagination,
			want:    counts{Seen: 2, Reached: 2},
		},
		"Link with a last already fetched": {
			faults: []testenv.Fault{
				{Path: testenv.TagsPath, Times: 2},
				{Path: testenv.TagsPath, Times: 1, Do: testenv.LinkTo("/v2/app/tags/list?last=t0998&n=1000&again=1")},
			},
			wantErr: registry.ErrPagination,
			want:    counts{Seen: 3, Reached: 3},
		},
	}
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, repoName, "latest", testenv.ImageOptions{})
	reg.TagMany(t, repoName, d, manyTags(2500))
	want := append([]string{"latest"}, manyTags(2500)...)

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg.Faults.Clear()
			for _, f := range tc.faults {
				if f.Do == nil {
					f.Do = testenv.PassWithHeaders()
				}
				reg.Faults.Add(f)
			}
			clock := newFakeClock()
			// The request timeout ends the stalled response; it is long
			// enough that no healthy page reaches it under -race on a
			// loaded machine (a page that did would be retried and
			// change the counts).
			c := newClient(t, clock, registry.WithMaxRetries(3), registry.WithRequestTimeout(2*time.Second))
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			got, err := c.ListTags(ctx, registry.Repo{Image: reg.Ref(repoName, "")})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("ListTags: %v", err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("ListTags succeeded, want error %v", tc.wantErr)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr) && !containsText(err, tc.wantErr.Error()):
				t.Fatalf("ListTags error = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil:
				if diff := cmp.Diff(want, got.Tags); diff != "" {
					t.Errorf("tags (-want +got):\n%s", diff)
				}
			}
			t.Logf("error: %v", err)
			gotCounts := counts{
				Seen:    reg.Faults.Seen("GET", testenv.TagsPath),
				Reached: reg.Faults.Reached("GET", testenv.TagsPath),
			}
			if diff := cmp.Diff(tc.want, gotCounts); diff != "" {
				t.Errorf("tag list requests (-want +got):\n%s", diff)
			}
			sleeps := clock.Sleeps()
			if len(sleeps) != len(tc.wantSleeps) {
				t.Fatalf("sleeps = %v, want %d of them (%v)", sleeps, len(tc.wantSleeps), tc.wantSleeps)
			}
			for i, w := range tc.wantSleeps {
				if w >= 0 && sleeps[i] != w {
					t.Errorf("sleep %d = %v, want %v", i, sleeps[i], w)
				}
				if w < 0 && sleeps[i] <= 0 {
					t.Errorf("sleep %d = %v, want a backoff", i, sleeps[i])
				}
			}
		})
	}
}

func containsText(err error, s string) bool {
	return err != nil && s != "" && strings.Contains(err.Error(), s)
}

// TestUserAgent checks that every request the client sends carries
// WithUserAgent's value (set in place, without a copy of the request): the
// ping, the tag list pages of two scans and a retried request.
func TestUserAgent(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	d := reg.PushImage(t, "team/app", "v1.0.0", testenv.ImageOptions{})
	reg.TagMany(t, "team/app", d, manyTags(5))
	var mu sync.Mutex
	agents := map[string]int{}
	record := func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *testenv.Faults) {
		mu.Lock()
		agents[r.Header.Get("User-Agent")]++
		mu.Unlock()
		next.ServeHTTP(w, r)
	}
	reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Times: 1, Do: testenv.Status(503)})
	reg.Faults.Add(testenv.Fault{Do: record})
	c := newClient(t, newFakeClock(), registry.WithUserAgent("hoist-test/1.0"), registry.WithPageSize(4))
	repo := registry.Repo{Image: reg.Ref("team/app", ""), Keychain: secretFor(t, reg.Host, reg.Username, reg.Password)}
	for range 2 {
		if _, err := c.ListTags(t.Context(), repo); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(agents) != 1 || agents["hoist-test/1.0"] < 5 {
		t.Errorf("User-Agent of the requests (value: count) = %v, want hoist-test/1.0 on each of 5 or more", agents)
	}
}

// TestForget: Forget drops what the Client keeps of the repositories it is
// told to forget (a repository asked for again is listed in full, its
// known sum forgotten) and keeps the others'.
func TestForget(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	for _, repo := range []string{"kept", "gone"} {
		reg.PushImage(t, repo, "1.0.0", testenv.ImageOptions{})
	}
	c := newClient(t, newFakeClock())
	sums := map[string][32]byte{}
	for _, repo := range []string{"kept", "gone"} {
		tl, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(repo, "")})
		if err != nil {
			t.Fatal(err)
		}
		sums[repo] = tl.Sum
	}
	type kept struct{ Refs, Conns, Pages int }
	count := func() kept {
		r, cn, p := registry.Kept(c)
		return kept{r, cn, p}
	}
	if diff := cmp.Diff(kept{2, 2, 2}, count()); diff != "" {
		t.Fatalf("before Forget (-want +got):\n%s", diff)
	}
	c.Forget(func(image string) bool { return image == reg.Ref("kept", "") })
	if diff := cmp.Diff(kept{1, 1, 1}, count()); diff != "" {
		t.Errorf("after Forget (-want +got):\n%s", diff)
	}
	for repo, wantUnchanged := range map[string]bool{"kept": true, "gone": false} {
		tl, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(repo, ""), KnownSum: sums[repo]})
		if err != nil {
			t.Fatal(err)
		}
		if tl.Unchanged != wantUnchanged || tl.Sum != sums[repo] {
			t.Errorf("%s asked again by its sum: unchanged %v (want %v), same sum %v", repo, tl.Unchanged, wantUnchanged, tl.Sum == sums[repo])
		}
	}
}

// TestListTagsConcurrentBodies lists repositories of different sizes (one
// page, several pages) from several goroutines at once, with and without
// their known sum: the bodies are read into reused buffers, and each list
// must be its own, whole, whatever the lists read around it.
func TestListTagsConcurrentBodies(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	sizes := map[string]int{"small": 3, "medium": 60, "large": 700, "paged": 1200}
	want := map[string][]string{}
	for image, n := range sizes {
		tags := manyTags(n)
		reg.TagMany(t, image, reg.PushImage(t, image, "latest", testenv.ImageOptions{}), tags)
		want[image] = append(slices.Clone(tags), "latest")
		slices.Sort(want[image])
	}
	c := newClient(t, newFakeClock())
	sums := map[string][32]byte{}
	for image := range sizes {
		tl, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(image, "")})
		if err != nil {
			t.Fatal(err)
		}
		sums[image] = tl.Sum
	}
	images := slices.Sorted(maps.Keys(sizes))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				image := images[(g+i)%len(images)]
				repo := registry.Repo{Image: reg.Ref(image, "")}
				if i%2 == 0 {
					repo.KnownSum = sums[image]
				}
				tl, err := c.ListTags(t.Context(), repo)
				if err != nil {
					errs <- err
					return
				}
				if tl.Unchanged {
					if tl.Sum != sums[image] {
						errs <- fmt.Errorf("%s: unchanged with another sum", image)
						return
					}
					continue
				}
				got := slices.Sorted(slices.Values(tl.Tags))
				if d := cmp.Diff(want[image], got); d != "" {
					errs <- fmt.Errorf("%s (-want +got):\n%s", image, d)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
