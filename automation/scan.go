package automation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry"
)

// Scanner scans image repositories and selects tags. Build it with the
// registry client shared by the whole process.
type Scanner struct {
	// Registry reads registries (required).
	Registry *registry.Client
	// SecretsDir holds secrets named by secretRef, one folder per secret
	// (see docs/state-and-secrets.md). Empty: secretRef is an error.
	SecretsDir string
	// Now is the clock for minAge; nil means time.Now.
	Now func() time.Time
	// Concurrency bounds repositories scanned at once (the registry
	// client's per-host limits apply beneath it). Zero means 8.
	Concurrency int
	// LookupEnv reads the environment variables that Argo CD Image
	// Updater's env: pull secrets name; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// AllowExtCredentials runs the scripts of Argo CD Image Updater's
	// ext:/SCRIPT pull secrets (--allow-argocd-ext-credentials); without
	// it they are refused (ErrExtCredentials).
	AllowExtCredentials bool
	// ExtCredentialsTimeout bounds one run of such a script; zero means
	// DefaultExtCredentialsTimeout.
	ExtCredentialsTimeout time.Duration
	// Explain fills each Selection's Explain with a verdict per tag.
	Explain bool
	// Credentials, when set, completes the Repo of an ImageRepository
	// after its secretRef is read: the controller adds the image pull
	// secrets and the cloud identity of its serviceAccountName. An error
	// fails the repository's scan.
	Credentials func(ctx context.Context, r *v1alpha1.ImageRepository, repo *registry.Repo) error

	// close releases what NewScanner opened (the registry cache).
	close func()
	// memo keeps the last selection of each policy that needs nothing
	// but the tags, so that a rescan finding the same list does not select
	// again (see selectionMemo).
	memo selectionMemo
	// lists keeps, per repository, what Scan computed from its last tag
	// list (see listMemo).
	lists listMemo
}

// listMemo holds, per repository (its image), the sum of the last tag list
// and the latest tags and count computed from it with the exclusions of
// one compiled policy. With every policy of the repository in the
// selection memo for that sum, the next scan asks the registry for the
// list with Repo.KnownSum: an unchanged answer is neither decoded nor
// hashed, and nothing is selected or sorted again.
type listMemo struct {
	mu        sync.Mutex
	m         map[string]listEntry
	unchanged int // lists the registry gave unchanged, for tests
}

type listEntry struct {
	sum      [32]byte
	excluded *policy.Policy
	latest   []string
	count    int
}

func (m *listMemo) get(image string) (listEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[image]
	return e, ok
}

func (m *listMemo) put(image string, e listEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]listEntry{}
	}
	m.m[image] = e
}

// selectionMemo holds, per policy, the result of its last selection that
// depended on the tag list alone: the compiled policy and the list's sum
// it came from. A policy recompiled (its spec changed) or a different list
// misses. At 5-minute intervals most rescans find the list they found
// before: this saves the selection (parsing and ordering every tag).
type selectionMemo struct {
	mu   sync.Mutex
	m    map[string]memoEntry
	hits int // selections answered from m, for tests
}

type memoEntry struct {
	policy *policy.Policy
	sum    [32]byte
	res    policy.Result
	err    error
}

func (m *selectionMemo) get(key string, p *policy.Policy, sum [32]byte) (policy.Result, error, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.match(key, p, sum)
	if !ok {
		return policy.Result{}, nil, false
	}
	m.hits++
	return e.res, e.err, true
}

// has reports whether get would answer.
func (m *selectionMemo) has(key string, p *policy.Policy, sum [32]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.match(key, p, sum)
	return ok
}

// match is the entry of key when it was made by p from the list of sum
// (m.mu held).
func (m *selectionMemo) match(key string, p *policy.Policy, sum [32]byte) (memoEntry, bool) {
	e, ok := m.m[key]
	return e, ok && e.policy == p && e.sum == sum
}

func (m *selectionMemo) put(key string, p *policy.Policy, sum [32]byte, res policy.Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]memoEntry{}
	}
	m.m[key] = memoEntry{policy: p, sum: sum, res: res, err: err}
}

// Remember seeds the selection memo with a selection of p made earlier,
// such as one the state store kept across a restart: a scan of p that
// finds a tag list with this sum answers with res instead of selecting
// again. The caller vouches that res was selected by p's documents as they
// are now (Fingerprint) from that list. A policy whose selection needs
// more than the tag list (facts, signatures, an explanation) is not
// remembered.
func (s *Scanner) Remember(p *config.Policy, sum [32]byte, res policy.Result) {
	if p == nil || p.Spec.Verify != nil || !memoizable(p.Compiled, registry.TagList{Sum: sum}, selectOptions{explain: s.Explain}) {
		return
	}
	s.memo.put(p.Namespace+"/"+p.Name, p.Compiled, sum, res, nil)
}

// Forget drops what s remembers of policies and repositories that set no
// longer has, and what its registry Client keeps of those repositories
// (registry.Client.Forget): a service reloads its configuration for
// months, and the memo of a removed policy must not stay.
func (s *Scanner) Forget(set *config.Set) {
	policies := make(map[string]bool, len(set.Policies))
	for _, p := range set.Policies {
		policies[p.Namespace+"/"+p.Name] = true
	}
	images := make(map[string]bool, len(set.Repositories))
	for _, r := range set.Repositories {
		images[r.Spec.Image] = true
	}
	s.memo.mu.Lock()
	for k := range s.memo.m {
		if !policies[k] {
			delete(s.memo.m, k)
		}
	}
	s.memo.mu.Unlock()
	s.lists.mu.Lock()
	for k := range s.lists.m {
		if !images[k] {
			delete(s.lists.m, k)
		}
	}
	s.lists.mu.Unlock()
	if s.Registry != nil {
		s.Registry.Forget(func(image string) bool { return images[image] })
	}
}

// memoizable reports whether a selection depends on the tag list alone:
// no facts from the registry (digests, creation times, platforms,
// signatures; minAge needs creation times), no explanation asked, and a
// list whose sum is known.
func memoizable(p *policy.Policy, tl registry.TagList, o selectOptions) bool {
	return p != nil && p.Needs() == (policy.Need{}) && !o.explain && o.verify == nil && tl.Sum != [32]byte{}
}

// Selection is the outcome of one policy.
type Selection struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Image is the repository, without tag.
	Image string `json:"image"`
	Tag   string `json:"tag,omitempty"`
	// Digest is set when the policy follows digests or reflects them.
	Digest string `json:"digest,omitempty"`
	// Ref is what is written to Git: IMAGE:TAG, or IMAGE:TAG@DIGEST.
	Ref string `json:"ref,omitempty"`
	// FetchedAt is when the tag list was read from the registry; Stale is
	// true when the registry failed transiently and the cached list was
	// used, and Warning then says why (see docs/state-and-secrets.md).
	FetchedAt time.Time `json:"fetchedAt,omitzero"`
	Stale     bool      `json:"stale,omitempty"`
	Warning   string    `json:"warning,omitempty"`
	// Held reports the policy's spec.hold: Ref is selected, but its
	// targets keep their values.
	Held bool `json:"held,omitempty"`
	// Candidates and Dropped count tags, as policy.Result does.
	Candidates int `json:"candidates"`
	Dropped    int `json:"dropped"`
	// Verify counts the signature checks of a policy with spec.verify.
	Verify *VerifyCounts `json:"verify,omitempty"`
	// Explain says what happened to each tag, when Scanner.Explain is set.
	Explain []policy.Verdict `json:"explain,omitempty"`
	// TagCount and LatestTags describe the repository's tag list, for
	// its status as Flux shows it: the tags its exclusionList keeps, and
	// the LatestTagsCount greatest of them (see LatestTags). The
	// repository's policies share LatestTags: do not modify it.
	TagCount   int      `json:"-"`
	LatestTags []string `json:"-"`
	// TagsSum is the Sum of the tag list the selection was made from, when
	// it depended on that list alone (no facts from the registry, no
	// explanation); zero otherwise. Kept with the selection, it lets a
	// later process answer the same list without selecting (Remember).
	TagsSum [32]byte `json:"-"`
	// Err is why the policy has no selection.
	Err error `json:"-"`
}

// Key is the policy's marker key, NAMESPACE:NAME.
func (s Selection) Key() string { return s.Namespace + ":" + s.Name }

// repoScan is one repository's tag list, shared by its policies while they
// select; it is dropped as soon as they have.
type repoScan struct {
	repo registry.Repo
	tags registry.TagList
	err  error
	// count and latest are LatestTags of tags.
	count  int
	latest []string
}

// Scan lists the tags of every repository used by an active policy of set,
// once each and in parallel, then selects per policy. Suspended policies
// and repositories are skipped. The result has one Selection per active
// policy, in document order; a failed policy has Err set and does not stop
// the others.
//
// A repository's policies select as soon as its tags are listed, and its
// tag list is dropped then: memory holds at most Concurrency tag lists, not
// one per repository (see BenchmarkScanMemory).
func (s *Scanner) Scan(ctx context.Context, set *config.Set) []Selection {
	var active []*config.Policy
	var repos []*config.Repository
	uses := map[*config.Repository][]int{} // indexes into active
	for _, p := range set.Policies {
		if p.Spec.Suspend || p.Repository == nil || p.Repository.Spec.Suspend {
			continue
		}
		if _, ok := uses[p.Repository]; !ok {
			repos = append(repos, p.Repository)
		}
		uses[p.Repository] = append(uses[p.Repository], len(active))
		active = append(active, p)
	}
	out := make([]Selection, len(active))
	n := s.Concurrency
	if n <= 0 {
		n = 8
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, r := range repos {
		scan := func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			rs := repoScan{err: ctx.Err()}
			if rs.err == nil {
				rs.repo, rs.err = s.repoOf(ctx, r.ImageRepository)
			}
			// The repository's exclusionList is compiled into each
			// of its policies.
			exclusions := active[uses[r][0]].Compiled
			image := r.Spec.Image
			if rs.err == nil {
				last, ok := s.lists.get(image)
				if ok && last.excluded == exclusions && s.answered(active, uses[r], last.sum) {
					rs.repo.KnownSum = last.sum
				}
				rs.tags, rs.err = s.Registry.ListTags(ctx, rs.repo)
				if rs.err == nil && rs.tags.Unchanged {
					rs.latest, rs.count = last.latest, last.count
					s.lists.mu.Lock()
					s.lists.unchanged++
					s.lists.mu.Unlock()
				}
				rs.repo.KnownSum = [32]byte{}
			}
			if rs.err == nil && !rs.tags.Unchanged {
				var excluded func(string) bool
				if exclusions != nil {
					excluded = exclusions.Excluded
				}
				rs.latest, rs.count = LatestTags(rs.tags.Tags, excluded, LatestTagsCount)
				if rs.tags.Sum != ([32]byte{}) && !rs.tags.Stale {
					s.lists.put(image, listEntry{sum: rs.tags.Sum, excluded: exclusions, latest: rs.latest, count: rs.count})
				}
			}
			// Each goroutine writes the selections of its own
			// repository's policies only.
			for _, i := range uses[r] {
				out[i] = s.selectOne(ctx, active[i], &rs)
			}
		}
		if len(repos) == 1 {
			// The service scans one repository at a time: no
			// goroutine to start (and whose stack to grow).
			scan()
			break
		}
		wg.Go(scan)
	}
	wg.Wait()
	return out
}

// answered reports whether every policy of a repository (indexes into
// active) would be answered by the selection memo for a list of sum, so
// that the list itself is not needed.
func (s *Scanner) answered(active []*config.Policy, uses []int, sum [32]byte) bool {
	o := selectOptions{explain: s.Explain}
	known := registry.TagList{Sum: sum}
	for _, i := range uses {
		p := active[i]
		if p.Spec.Verify != nil || !memoizable(p.Compiled, known, o) || !s.memo.has(p.Namespace+"/"+p.Name, p.Compiled, sum) {
			return false
		}
	}
	return true
}

// repoOf maps an ImageRepository to what the registry client needs.
func (s *Scanner) repoOf(ctx context.Context, r *v1alpha1.ImageRepository) (registry.Repo, error) {
	repo := registry.Repo{Image: r.Spec.Image, Insecure: r.Spec.Insecure, Provider: r.Spec.Provider, RealmHosts: r.Spec.TokenRealmHosts}
	if r.Spec.Timeout != nil {
		repo.Timeout = r.Spec.Timeout.Duration
	}
	if r.Spec.SecretRef != nil {
		if s.SecretsDir == "" {
			return repo, fmt.Errorf("ImageRepository %s/%s: secretRef %q needs --secrets-dir", r.Namespace, r.Name, r.Spec.SecretRef.Name)
		}
		kc, err := registry.ReadDockerConfigSecret(s.SecretsDir, r.Spec.SecretRef.Name)
		if err != nil {
			return repo, fmt.Errorf("ImageRepository %s/%s: %w", r.Namespace, r.Name, err)
		}
		repo.Keychain = kc
	}
	if v := r.Annotations[config.ArgoPullSecretAnnotation]; v != "" {
		kc, err := s.argoKeychain(ctx, v)
		if err != nil {
			return repo, fmt.Errorf("ImageRepository %s/%s: %w", r.Namespace, r.Name, err)
		}
		repo.Keychain = kc
	}
	if s.Credentials != nil {
		if err := s.Credentials(ctx, r, &repo); err != nil {
			return repo, fmt.Errorf("ImageRepository %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return repo, nil
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scanner) selectOne(ctx context.Context, p *config.Policy, rs *repoScan) Selection {
	sel := Selection{Namespace: p.Namespace, Name: p.Name, Image: p.Repository.Spec.Image, Held: p.Spec.Hold}
	if rs.err != nil {
		sel.Err = rs.err
		return sel
	}
	sel.FetchedAt, sel.Stale, sel.Warning = rs.tags.FetchedAt, rs.tags.Stale, StaleWarning(rs.tags)
	sel.TagCount, sel.LatestTags = rs.count, rs.latest
	o := selectOptions{now: s.now(), explain: s.Explain}
	if v := p.Spec.Verify; v != nil {
		key, err := s.verifyKey(p)
		if err != nil {
			sel.Err = err
			return sel
		}
		o.verify = &verifier{key: key}
	}
	var (
		res policy.Result
		err error
	)
	key := p.Namespace + "/" + p.Name
	memo := memoizable(p.Compiled, rs.tags, o)
	hit := false
	if memo {
		res, err, hit = s.memo.get(key, p.Compiled, rs.tags.Sum)
	}
	if !hit && rs.tags.Unchanged {
		// The memo moved on since Scan asked for the list by its sum
		// (another scan of the same repository changed it): list the
		// tags in full.
		tl, lerr := s.Registry.ListTags(ctx, rs.repo)
		if lerr != nil {
			sel.Err = lerr
			return sel
		}
		rs.tags = tl
		var excluded func(string) bool
		if p.Compiled != nil {
			excluded = p.Compiled.Excluded
		}
		rs.latest, rs.count = LatestTags(tl.Tags, excluded, LatestTagsCount)
		sel.FetchedAt, sel.Stale, sel.Warning = tl.FetchedAt, tl.Stale, StaleWarning(tl)
		sel.TagCount, sel.LatestTags = rs.count, rs.latest
		memo = memoizable(p.Compiled, rs.tags, o)
	}
	if memo {
		sel.TagsSum = rs.tags.Sum
	}
	if !hit {
		res, err = selectTag(ctx, s.Registry, rs.repo, p.Compiled, rs.tags.Tags, o)
		if memo {
			s.memo.put(key, p.Compiled, rs.tags.Sum, res, err)
		}
	}
	sel.Candidates, sel.Dropped, sel.Explain = res.Candidates, res.Dropped, res.Explain
	if o.verify != nil {
		sel.Verify = &o.verify.counts
	}
	if err != nil {
		if rs.tags.Stale {
			err = errors.Join(err, rs.tags.Err)
		}
		sel.Err = fmt.Errorf("policy %s/%s: %w", p.Namespace, p.Name, err)
		return sel
	}
	sel.Tag, sel.Digest = res.Tag, res.Digest
	reflect := p.Spec.DigestReflectionPolicy
	if sel.Digest == "" && (reflect == v1alpha1.ReflectAlways || reflect == v1alpha1.ReflectIfNotPresent) {
		d, err := s.Registry.Digest(ctx, rs.repo, sel.Tag)
		if err != nil {
			sel.Err = fmt.Errorf("policy %s/%s: resolving the digest of %s:%s: %w", p.Namespace, p.Name, sel.Image, sel.Tag, err)
			return sel
		}
		sel.Digest = d
	}
	if p.Compiled.Rule() != policy.RuleDigest && reflect != v1alpha1.ReflectAlways && reflect != v1alpha1.ReflectIfNotPresent {
		sel.Digest = ""
	}
	sel.Ref = sel.Image + ":" + sel.Tag
	if sel.Digest != "" {
		sel.Ref += "@" + sel.Digest
	}
	return sel
}

// StaleWarning says why a stale tag list was served and how old it is; it
// is empty for a fresh list.
func StaleWarning(tl registry.TagList) string {
	if !tl.Stale {
		return ""
	}
	return fmt.Sprintf("registry failed transiently, using the tag list cached at %s: %v",
		tl.FetchedAt.UTC().Format(time.RFC3339), tl.Err)
}

// SelectTag runs one compiled policy over tags, asking the registry for
// facts only when the policy needs them (best candidate first). A policy
// that verifies signatures needs its key: select it through a Scanner.
func SelectTag(ctx context.Context, reg *registry.Client, repo registry.Repo, p *policy.Policy, tags []string, now time.Time) (policy.Result, error) {
	return selectTag(ctx, reg, repo, p, tags, selectOptions{now: now})
}

// VerifyCounts counts the signature checks of one selection: digests
// checked by asking the registry, and digests found in the cache of
// verified digests (no request).
type VerifyCounts struct {
	Checked  int `json:"checked"`
	Verified int `json:"verified"`
	Cached   int `json:"cached"`
}

// verifier checks the signatures of one policy's candidates.
type verifier struct {
	key    *registry.CosignKey
	counts VerifyCounts
}

type selectOptions struct {
	now     time.Time
	explain bool
	verify  *verifier // nil: the policy does not verify
}

func selectTag(ctx context.Context, reg *registry.Client, repo registry.Repo, p *policy.Policy, tags []string, o selectOptions) (policy.Result, error) {
	opts := policy.Options{Now: o.now, Explain: o.explain}
	if need := p.Needs(); need != (policy.Need{}) {
		opts.Facts = func(tag string, n policy.Need) (policy.Facts, error) {
			f, err := reg.Facts(ctx, repo, tag, registry.Need{Digest: n.Digest || n.Verified, Created: n.Created, Platforms: n.Platforms})
			if err != nil {
				return policy.Facts{}, err
			}
			pf := policy.Facts{Digest: f.Digest, Created: f.Created, Platforms: f.Platforms}
			if n.Verified {
				if o.verify == nil {
					return policy.Facts{}, fmt.Errorf("%w: the policy verifies signatures and no key was given", policy.ErrInvalidPolicy)
				}
				v, err := reg.Verify(ctx, repo, f.Digest, o.verify.key)
				if err != nil {
					return policy.Facts{}, err
				}
				o.verify.counts.Checked++
				if v.Cached {
					o.verify.counts.Cached++
				}
				if v.Verified {
					o.verify.counts.Verified++
				}
				pf.Verified, pf.Unverified = v.Verified, v.Reason
			}
			return pf, nil
		}
	}
	return p.Select(tags, opts)
}

// verifyKey reads the public key that a policy's spec.verify names.
func (s *Scanner) verifyKey(p *config.Policy) (*registry.CosignKey, error) {
	ref := p.Spec.Verify.SecretRef
	if ref == nil {
		return nil, fmt.Errorf("policy %s/%s: spec.verify.secretRef: %s", p.Namespace, p.Name, config.KeylessUnavailable)
	}
	if s.SecretsDir == "" {
		return nil, fmt.Errorf("policy %s/%s: spec.verify.secretRef %q needs --secrets-dir", p.Namespace, p.Name, ref.Name)
	}
	key, err := registry.ReadCosignKeySecret(s.SecretsDir, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("policy %s/%s: spec.verify: %w", p.Namespace, p.Name, err)
	}
	return key, nil
}
