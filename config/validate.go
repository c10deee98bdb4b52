package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"
	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry/cloudhost"
	"github.com/hoist-dev/hoist/registry/webhook"
)

// Defaults filled in at load.
const (
	DefaultInterval = 5 * time.Minute
	DefaultTimeout  = 60 * time.Second
	DefaultProvider = "generic"
	DefaultPath     = "."
)

// objectMeta checks the metadata, fills the namespace, and sets the
// TypeMeta to hoist's: every object read is a v1alpha1 object, whatever
// group it was written in (Source.APIVersion keeps that).
func (d *document) objectMeta(tm *metav1.TypeMeta, m *metav1.ObjectMeta) {
	tm.APIVersion = v1alpha1.APIVersion
	tm.Kind = d.kind
	if m.Name == "" {
		d.errorf("metadata.name", "required")
	} else if msgs := validation.IsDNS1123Subdomain(m.Name); len(msgs) > 0 {
		d.errorf("metadata.name", "%q: %s", m.Name, strings.Join(msgs, "; "))
	}
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	} else if msgs := validation.IsDNS1123Label(m.Namespace); len(msgs) > 0 {
		d.errorf("metadata.namespace", "%q: %s", m.Namespace, strings.Join(msgs, "; "))
	}
}

// required reports a missing field, unless its value was already reported
// as malformed.
func (d *document) required(path string) {
	if !d.failed[path] {
		d.errorf(path, "required")
	}
}

func (d *document) oneOf(path, value string, allowed ...string) {
	if !contains(allowed, value) {
		d.errorf(path, "%q: want %s", value, orList(allowed))
	}
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func (d *document) localRef(path string, r *v1alpha1.LocalObjectReference) {
	if r != nil && r.Name == "" {
		d.required(path + ".name")
	}
}

func (d *document) imageRepository(o *v1alpha1.ImageRepository) {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	if s.Image == "" {
		d.required("spec.image")
	} else if err := checkImage(s.Image); err != nil {
		d.fail("spec.image", err)
	}
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultInterval
	}
	if s.Timeout == nil || s.Timeout.Duration == 0 {
		s.Timeout = &metav1.Duration{Duration: DefaultTimeout}
	}
	if s.ExclusionList == nil {
		s.ExclusionList = append([]string{}, policy.DefaultExclusionList...)
	}
	for i, ex := range s.ExclusionList {
		if _, err := regexp.Compile(ex); err != nil {
			d.errorf(fmt.Sprintf("spec.exclusionList[%d]", i), "compiling %q: %w", ex, err)
		}
	}
	if s.Provider == "" {
		s.Provider = DefaultProvider
	} else {
		d.oneOf("spec.provider", s.Provider, "generic", "aws", "azure", "gcp")
		if s.Image != "" && !d.failed["spec.image"] && !d.failed["spec.provider"] {
			if ref, err := name.NewRepository(s.Image); err == nil {
				if err := cloudhost.Check(s.Provider, ref.RegistryStr()); err != nil {
					d.fail("spec.provider", err)
				}
			}
		}
	}
	for i, h := range s.TokenRealmHosts {
		if err := checkRealmHost(h); err != nil {
			d.fail(fmt.Sprintf("spec.tokenRealmHosts[%d]", i), err)
		}
	}
	d.localRef("spec.secretRef", s.SecretRef)
	d.localRef("spec.certSecretRef", s.CertSecretRef)
	d.localRef("spec.proxySecretRef", s.ProxySecretRef)
}

func (d *document) imagePolicy(o *v1alpha1.ImagePolicy) {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	if s.ImageRepositoryRef.Name == "" {
		d.required("spec.imageRepositoryRef.name")
	}
	if s.ImageRepositoryRef.Namespace == "" {
		s.ImageRepositoryRef.Namespace = o.Namespace
	}
	if s.DigestReflectionPolicy == "" {
		s.DigestReflectionPolicy = v1alpha1.ReflectNever
	} else {
		d.oneOf("spec.digestReflectionPolicy", string(s.DigestReflectionPolicy),
			string(v1alpha1.ReflectNever), string(v1alpha1.ReflectIfNotPresent), string(v1alpha1.ReflectAlways))
	}
	if v := s.Verify; v != nil {
		d.verification("spec.verify", v)
	}
	// The rule, filters, platforms and minAge are checked by policy.Compile
	// once the ImageRepository is known (see resolve).
}

// KeylessUnavailable says why keyless verification is refused.
const KeylessUnavailable = "keyless verification is not available: it needs Sigstore's public services " +
	"(Fulcio, Rekor and their TUF root), which hoist does not reach; sign with a key pair " +
	"(cosign generate-key-pair) and name the Secret of its public key in secretRef"

// verification checks an ImagePolicy's spec.verify (or what an Argo CD
// ImageUpdater's imagesVerification became) and fills its defaults.
func (d *document) verification(path string, v *v1alpha1.ImageVerification) {
	if v.Provider == "" {
		v.Provider = v1alpha1.VerificationProviderCosign
	} else {
		d.oneOf(path+".provider", v.Provider, v1alpha1.VerificationProviderCosign)
	}
	if len(v.MatchOIDCIdentity) > 0 {
		d.errorf(path+".matchOIDCIdentity", "%s", KeylessUnavailable)
	}
	if v.SecretRef == nil {
		if len(v.MatchOIDCIdentity) == 0 {
			d.errorf(path+".secretRef", "required: %s", KeylessUnavailable)
		}
		return
	}
	d.localRef(path+".secretRef", v.SecretRef)
}

func (d *document) automation(o *v1alpha1.ImageUpdateAutomation) {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	g := s.Git
	hasURL := g != nil && g.URL != ""
	switch {
	case s.SourceRef != nil && hasURL:
		d.errorf("spec.git.url", "set either spec.sourceRef or spec.git.url, not both")
	case s.SourceRef == nil && !hasURL:
		d.errorf("spec.sourceRef", "required: name a GitRepository, or set spec.git.url")
	}
	if r := s.SourceRef; r != nil {
		if r.Kind == "" {
			r.Kind = v1alpha1.GitRepositoryKind
		} else {
			d.oneOf("spec.sourceRef.kind", r.Kind, v1alpha1.GitRepositoryKind)
		}
		if r.Name == "" {
			d.required("spec.sourceRef.name")
		}
		if r.Namespace == "" {
			r.Namespace = o.Namespace
		}
		if r.APIVersion != "" {
			if ok, _, _, _ := classify(r.APIVersion, v1alpha1.GitRepositoryKind); !ok {
				d.errorf("spec.sourceRef.apiVersion", "%q: want %s, %s/v1 or %s/v1beta2", r.APIVersion, v1alpha1.APIVersion, fluxSourceGroup, fluxSourceGroup)
			}
		}
	}
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultInterval
	}
	if s.PolicySelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(s.PolicySelector); err != nil {
			d.fail("spec.policySelector", err)
		}
	}
	if s.Update == nil {
		s.Update = &v1alpha1.UpdateStrategy{}
	}
	if s.Update.Strategy == "" {
		s.Update.Strategy = v1alpha1.UpdateStrategySetters
	} else {
		d.oneOf("spec.update.strategy", string(s.Update.Strategy), string(v1alpha1.UpdateStrategySetters))
	}
	if s.Update.Path == "" {
		s.Update.Path = DefaultPath
	} else if err := checkUpdatePath(s.Update.Path); err != nil {
		d.fail("spec.update.path", err)
	}
	for i, g := range s.Update.Include {
		if err := checkInclude(g); err != nil {
			d.fail(fmt.Sprintf("spec.update.include[%d]", i), err)
		}
	}

	if g == nil {
		d.required("spec.git.commit.author.email")
		return
	}
	if g.URL != "" {
		if err := checkGitURL(g.URL); err != nil {
			d.fail("spec.git.url", err)
		} else if tokenInURL(g.URL) {
			d.warnf("spec.git.url", tokenInURLWarning, "spec.git.secretRef")
		}
	}
	if g.SecretRef != nil {
		if g.URL == "" {
			d.errorf("spec.git.secretRef", "only used with spec.git.url; with spec.sourceRef the GitRepository's secretRef is used")
		}
		d.localRef("spec.git.secretRef", g.SecretRef)
	}
	if g.Checkout != nil {
		d.gitRef("spec.git.checkout.ref", &g.Checkout.Reference)
	}
	if g.Commit.Author.Email == "" {
		d.required("spec.git.commit.author.email")
	}
	if k := g.Commit.SigningKey; k != nil {
		d.localRef("spec.git.commit.signingKey.secretRef", &k.SecretRef)
		if k.Type != "" {
			d.oneOf("spec.git.commit.signingKey.type", string(k.Type), string(v1alpha1.SigningKeyGPG), string(v1alpha1.SigningKeySSH))
		}
	}
	if p := g.Push; p != nil {
		if p.Branch != "" {
			if err := checkRefName(p.Branch); err != nil {
				d.fail("spec.git.push.branch", err)
			}
		}
		if strings.HasPrefix(p.Refspec, "+") || strings.HasPrefix(p.Refspec, ":") {
			d.errorf("spec.git.push.refspec", "%q: a refspec must not force-update (+) or delete (:dst)", p.Refspec)
		}
		if pr := p.PullRequest; pr != nil {
			grouped := pr.GroupBy == v1alpha1.GroupByPolicy || pr.GroupBy == v1alpha1.GroupByPath
			if pr.GroupBy != "" {
				d.oneOf("spec.git.push.pullRequest.groupBy", string(pr.GroupBy), string(v1alpha1.GroupByAutomation), string(v1alpha1.GroupByPolicy), string(v1alpha1.GroupByPath))
			}
			if grouped && p.Refspec != "" {
				d.errorf("spec.git.push.refspec", "not with spec.git.push.pullRequest.groupBy %s: each group pushes to a branch of its own", pr.GroupBy)
			}
			if p.Branch == "" && !grouped {
				d.errorf("spec.git.push.branch", "required with spec.git.push.pullRequest: the branch the pull request is opened from")
			} else if g.Checkout != nil && g.Checkout.Reference.Branch == p.Branch {
				d.errorf("spec.git.push.branch", "%q: a pull request needs a branch other than the checked-out one", p.Branch)
			}
			if pr.Provider != "" {
				d.oneOf("spec.git.push.pullRequest.provider", pr.Provider, "github", "gitlab", "gitea")
			}
			if pr.AutoMerge {
				d.warnf("spec.git.push.pullRequest.autoMerge", "not acted on: hoist opens and updates the pull request but never merges it; turn on auto-merge on the forge")
			}
			if pr.APIURL != "" {
				if u, err := url.Parse(pr.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					d.errorf("spec.git.push.pullRequest.apiURL", "%q: want an http or https URL", withoutUserinfo(pr.APIURL))
				} else if u.User != nil {
					d.errorf("spec.git.push.pullRequest.apiURL", "the URL carries user information; the API token comes from the Git repository's secretRef")
				}
			}
		}
	}
}

func (d *document) gitRepository(o *v1alpha1.GitRepository) {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	if s.URL == "" {
		d.required("spec.url")
	} else if err := checkGitURL(s.URL); err != nil {
		d.fail("spec.url", err)
	} else if tokenInURL(s.URL) {
		d.warnf("spec.url", tokenInURLWarning, "spec.secretRef")
	}
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultInterval
	}
	if s.Timeout == nil || s.Timeout.Duration == 0 {
		s.Timeout = &metav1.Duration{Duration: DefaultTimeout}
	}
	if s.Provider != "" {
		d.oneOf("spec.provider", s.Provider, "generic", "aws", "azure", "github")
	}
	if s.Provider == "github" && s.SecretRef == nil {
		d.errorf("spec.secretRef", "required with spec.provider github: a Secret with githubAppID, githubAppInstallationID and githubAppPrivateKey")
	}
	d.localRef("spec.secretRef", s.SecretRef)
	if s.Reference != nil {
		d.gitRef("spec.ref", s.Reference)
	}
}

func (d *document) gitRef(path string, r *v1alpha1.GitRepositoryRef) {
	if r.Branch != "" {
		if err := checkRefName(r.Branch); err != nil {
			d.fail(path+".branch", err)
		}
	}
	if r.Tag != "" {
		if err := checkRefName(r.Tag); err != nil {
			d.fail(path+".tag", err)
		}
	}
	if r.SemVer != "" {
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			d.errorf(path+".semver", "parsing range %q: %w", r.SemVer, err)
		}
	}
	if r.Name != "" && !strings.HasPrefix(r.Name, "refs/") {
		d.errorf(path+".name", "%q: want a full reference name, such as refs/heads/main", r.Name)
	} else if r.Name != "" {
		if err := checkRefName(r.Name); err != nil {
			d.fail(path+".name", err)
		}
	}
	if r.Commit != "" && !isCommitHash(r.Commit) {
		d.errorf(path+".commit", "%q: want a full commit hash (40 or 64 hex digits)", r.Commit)
	}
}

// receiver checks a Receiver; false means it is left out (a Flux receiver
// type that hoist does not serve).
func (d *document) receiver(o *v1alpha1.Receiver) bool {
	d.objectMeta(&o.TypeMeta, &o.ObjectMeta)
	s := &o.Spec
	ok, flux := receiverType(s.Type)
	switch {
	case s.Type == "":
		d.required("spec.type")
	case ok:
	case flux && d.flux:
		d.warnf("spec.type", "receiver type %q of Flux's API is not served by hoist; receiver ignored", s.Type)
		return false
	default:
		d.errorf("spec.type", "%q: want %s", s.Type, receiverTypeList)
	}
	if len(s.Resources) == 0 {
		d.errorf("spec.resources", "required: at least one object to rescan")
	}
	for i, r := range s.Resources {
		p := fmt.Sprintf("spec.resources[%d]", i)
		if r.Kind == "" {
			d.required(p + ".kind")
		} else if ok, flux := receiverKind(r.Kind); flux {
			d.warnf(p+".kind", "kind %q of Flux's API is not acted on by hoist; ignored", r.Kind)
		} else if !ok {
			d.errorf(p+".kind", "%q: want %s", r.Kind, orList([]string{
				v1alpha1.ImageRepositoryKind, v1alpha1.ImagePolicyKind, v1alpha1.ImageUpdateAutomationKind, v1alpha1.GitRepositoryKind,
			}))
		}
		if r.Name == "" {
			d.required(p + ".name")
		}
		if r.Namespace == "*" && r.Name != "*" {
			d.errorf(p+".namespace", `"*" needs name "*"`)
		}
		if len(r.MatchLabels) > 0 && r.Name != "*" && r.Name != "" {
			d.warnf(p+".matchLabels", "ignored: the resource is named %q (labels select only with name \"*\"), as in Flux", r.Name)
		}
		if r.Name == "*" && len(r.MatchLabels) == 0 {
			d.errorf(p+".matchLabels", `required with name "*"`)
		}
	}
	if strings.TrimSpace(s.ResourceFilter) != "" {
		if _, err := webhook.CompileFilter(s.ResourceFilter); err != nil {
			d.fail("spec.resourceFilter", err)
		}
	}
	if s.Type == v1alpha1.ReceiverGenericOIDC {
		// As Flux: the requests carry ID tokens; there is no token, and
		// the path is that of an empty one.
		if s.SecretRef.Name != "" {
			d.errorf("spec.secretRef", "must not be set for type generic-oidc (requests are authenticated by their ID token)")
		}
		if len(s.OIDCProviders) == 0 {
			d.errorf("spec.oidcProviders", "required for type generic-oidc: at least one provider")
		} else if err := webhook.CompileOIDCProviders(OIDCProviders(s.OIDCProviders)); err != nil {
			d.fail("spec.oidcProviders", err)
		}
		return true
	}
	if len(s.OIDCProviders) > 0 {
		d.errorf("spec.oidcProviders", "only for type generic-oidc")
	}
	if s.SecretRef.Name == "" {
		d.required("spec.secretRef.name")
	}
	return true
}

// OIDCProviders converts a generic-oidc Receiver's providers into what the
// webhook package verifies tokens with.
func OIDCProviders(ps []v1alpha1.OIDCProvider) []webhook.OIDCProvider {
	out := make([]webhook.OIDCProvider, 0, len(ps))
	for _, p := range ps {
		wp := webhook.OIDCProvider{IssuerURL: p.IssuerURL, Audience: p.Audience}
		for _, v := range p.Variables {
			wp.Variables = append(wp.Variables, webhook.OIDCVariable{Name: v.Name, Expression: v.Expression})
		}
		for _, v := range p.Validations {
			wp.Validations = append(wp.Validations, webhook.OIDCValidation{Expression: v.Expression, Message: v.Message})
		}
		out = append(out, wp)
	}
	return out
}

// resolve links objects to the objects they name and compiles policies.
func (l *loader) resolve() {
	// By key: a walk of every repository for each policy costs the square
	// of their number.
	repos := make(map[string]*Repository, len(l.set.Repositories))
	for _, r := range l.set.Repositories {
		if k := r.Namespace + "/" + r.Name; repos[k] == nil {
			repos[k] = r
		}
	}
	for _, p := range l.set.Policies {
		d := l.docs[p.ImagePolicy]
		ref := p.Spec.ImageRepositoryRef
		if ref.Name != "" {
			ns := ref.Namespace
			if ns == "" {
				ns = DefaultNamespace
			}
			p.Repository = repos[ns+"/"+ref.Name]
			if p.Repository == nil {
				d.errorf("spec.imageRepositoryRef.name", "no ImageRepository %q in namespace %q", ref.Name, ref.Namespace)
			}
		}
		var repo *v1alpha1.ImageRepository
		if p.Repository != nil {
			repo = p.Repository.ImageRepository
		}
		if was, ok := l.compiledFor[p]; ok && p.Compiled != nil && was == repo {
			continue // seeded, and compiled with the same repository
		}
		c, err := l.compiler.Compile(PolicySpec(p.ImagePolicy, repo, p.Source.Flux))
		if err != nil {
			d.policyErrors(err)
			continue
		}
		p.Compiled = c
	}
	for _, a := range l.set.Automations {
		r := a.Spec.SourceRef
		if r == nil || r.Name == "" || r.Kind != v1alpha1.GitRepositoryKind {
			continue
		}
		a.GitRepository = l.set.GitRepository(r.Namespace, r.Name)
		if a.GitRepository == nil {
			l.docs[a.ImageUpdateAutomation].errorf("spec.sourceRef.name", "no GitRepository %q in namespace %q", r.Name, r.Namespace)
		}
	}
	l.resolveAlerts()
	for _, rc := range l.set.Receivers {
		d := l.docs[rc.Receiver]
		for i, r := range rc.Spec.Resources {
			if r.Name == "*" || r.Namespace == "*" || r.Name == "" {
				continue
			}
			ns := r.Namespace
			if ns == "" {
				ns = rc.Namespace
			}
			if !l.defined(r.Kind, ns, r.Name) {
				if ok, _ := receiverKind(r.Kind); ok {
					d.errorf(fmt.Sprintf("spec.resources[%d].name", i), "no %s %q in namespace %q in the files read (a request would fail with 500)", r.Kind, r.Name, ns)
				}
			}
		}
	}
}

func (l *loader) defined(kind, namespace, name string) bool {
	_, ok := l.ids[kind+" "+namespace+"/"+name]
	return ok
}

// policyErrors reports the errors of policy.Compile at the fields they name.
// Errors of the exclusion list are the repository's, reported there.
func (d *document) policyErrors(err error) {
	for _, e := range flatten(err) {
		var fe *policy.FieldError
		if !errors.As(e, &fe) {
			d.fail("spec.policy", e)
			continue
		}
		if strings.HasPrefix(fe.Field, "exclusionList") {
			continue
		}
		d.fail("spec."+fe.Field, fe.Err)
	}
}

func flatten(err error) []error {
	// A *FieldError is a leaf although it unwraps to several errors.
	if _, ok := err.(*policy.FieldError); ok { //nolint:errorlint // the error itself, not its chain
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// The OCI distribution grammar of a repository's path and of a registry.
var (
	repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	registryHost   = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$`)
)

// checkImage accepts an image repository without tag or digest, such as
// ghcr.io/org/app, localhost:5000/app or nginx (Docker Hub).
func checkImage(image string) error {
	if strings.Contains(image, "://") {
		return fmt.Errorf("image %q: want a repository without a scheme, such as ghcr.io/org/app", image)
	}
	repo, err := name.NewRepository(image)
	if err != nil {
		if _, perr := name.ParseReference(image); perr != nil {
			return fmt.Errorf("parsing image %q: %w", image, err)
		}
		bare := image
		if i := strings.IndexByte(bare, '@'); i >= 0 {
			bare = bare[:i]
		}
		if i := strings.LastIndexByte(bare, ':'); i > strings.LastIndexByte(bare, '/') {
			bare = bare[:i]
		}
		return fmt.Errorf("image %q has a tag or digest; want the repository only, such as %q", image, bare)
	}
	if !registryHost.MatchString(repo.RegistryStr()) {
		return fmt.Errorf("image %q: registry %q is not a host name with an optional port", image, repo.RegistryStr())
	}
	if !repositoryPath.MatchString(repo.RepositoryStr()) {
		return fmt.Errorf("image %q: repository path %q is not valid: lowercase components separated by /", image, repo.RepositoryStr())
	}
	return nil
}

var scpLike = regexp.MustCompile(`^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:[^/\\]`)

// checkGitURL accepts http, https, ssh and file URLs and scp-like
// user@host:path. The URL is not quoted in errors: it may carry credentials.
func checkGitURL(s string) error {
	if !strings.Contains(s, "://") {
		if scpLike.MatchString(s) {
			return nil
		}
		return errors.New("want an http, https, ssh or file URL, or user@host:path")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("parsing URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "ssh":
		if u.Host == "" {
			return fmt.Errorf("%s URL without a host", u.Scheme)
		}
	case "file":
	default:
		return fmt.Errorf("scheme %q: want http, https, ssh or file", u.Scheme)
	}
	if _, has := u.User.Password(); has {
		return errors.New("the URL carries a password; name a secret in secretRef instead")
	}
	return nil
}

// tokenInURLWarning is the warning for an http(s) URL whose user name looks
// like a token; its argument is the secretRef field to use instead.
const tokenInURLWarning = "the URL's user name looks like a token: a credential in the URL is in the configuration for all to read; put it in a secret named by %s (key password or bearerToken) and remove it from the URL"

// tokenInURL reports whether the http or https URL s has a user name that
// looks like a token (https://TOKEN@host/path, which GitHub, GitLab and
// Gitea accept): one with a known token prefix, or one of at least 20
// letters, digits, '-', '_' and '.' with a digit among them. Login names
// such as git, oauth2 or x-access-token do not.
func tokenInURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User == nil {
		return false
	}
	return looksLikeToken(u.User.Username())
}

func looksLikeToken(user string) bool {
	// The prefixes of GitHub's, GitLab's and Bitbucket's tokens.
	for _, p := range []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "ATBB"} {
		if strings.HasPrefix(user, p) && len(user) > len(p) {
			return true
		}
	}
	if len(user) < 20 {
		return false
	}
	digit := false
	for _, r := range user {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return digit
}

// withoutUserinfo returns the URL s with the user information of its
// authority replaced by "REDACTED", to quote it in an error.
func withoutUserinfo(s string) string {
	rest, prefix := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+3], s[i+3:]
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		return prefix + "REDACTED" + rest[i:]
	}
	return s
}

// checkUpdatePath accepts a relative path that stays inside the repository.
func checkUpdatePath(p string) error {
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		return fmt.Errorf("%q: want a path relative to the repository's root", p)
	}
	if c := path.Clean(strings.ReplaceAll(p, `\`, "/")); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%q: leaves the repository", p)
	}
	return nil
}

// checkRefName applies the rules of git check-ref-format to a branch, tag
// or reference name.
func checkRefName(s string) error {
	bad := func(why string) error { return fmt.Errorf("%q is not a valid Git reference name: %s", s, why) }
	switch {
	case s == "@":
		return bad(`"@" alone`)
	case strings.HasPrefix(s, "-"):
		return bad("starts with -")
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
		return bad("starts or ends with /")
	case strings.HasSuffix(s, "."):
		return bad("ends with .")
	case strings.Contains(s, ".."), strings.Contains(s, "//"), strings.Contains(s, "@{"):
		return bad(`contains "..", "//" or "@{"`)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	for _, part := range strings.Split(s, "/") {
		if strings.HasPrefix(part, ".") || strings.HasSuffix(part, ".lock") {
			return bad(`a component starts with "." or ends with ".lock"`)
		}
	}
	return nil
}

func isCommitHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return true
}

// checkRealmHost accepts a host name or IP address, with an optional port:
// what spec.tokenRealmHosts names.
func checkRealmHost(h string) error {
	u, err := url.Parse("https://" + h)
	if err != nil || h == "" || u.Host != h || u.Hostname() == "" {
		return fmt.Errorf("%q: want a host or host:port, without scheme or path", h)
	}
	return nil
}

// checkInclude checks a glob of update.include: a relative slash path that
// compiles.
func checkInclude(g string) error {
	if g == "" {
		return errors.New("empty glob")
	}
	if strings.HasPrefix(g, "/") || strings.Contains(g, "\\") || slices.Contains(strings.Split(g, "/"), "..") {
		return fmt.Errorf("glob %q: want a slash path relative to update.path, without \"..\"", g)
	}
	if _, err := glob.Compile(g, '/'); err != nil {
		return fmt.Errorf("glob %q: %w", g, err)
	}
	return nil
}
