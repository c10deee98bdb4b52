package automation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// argoOutcome is what the write-back of an Argo CD Application did.
type argoOutcome struct {
	changes    []writeback.Change
	errs       []*writeback.FileError
	files      []writeback.FileResult // paths relative to the repository
	selections []Selection
}

// argoDetect returns the type of the Application's source as Argo CD
// detects it: the type the Application names, else Kustomize when the
// source path holds a kustomization file, Helm when it holds Chart.yaml,
// else a plain directory.
func argoDetect(dir string, ac *config.ArgoCD) (string, error) {
	if ac.Type != "" {
		return ac.Type, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer func() { _ = r.Close() }() // read only
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := r.Stat(path.Join(ac.SourcePath, name)); err == nil {
			return config.ArgoTypeKustomize, nil
		}
	}
	if _, err := r.Stat(path.Join(ac.SourcePath, "Chart.yaml")); err == nil {
		return config.ArgoTypeHelm, nil
	}
	return config.ArgoTypeDirectory, nil
}

// argoTarget returns the file of the repository written for the
// Application, and how. handled is false for a plain directory written to
// .argocd-source (Argo CD has no parameters for one): its images are
// written through markers instead.
func argoTarget(dir string, ac *config.ArgoCD) (file string, kind writeback.ArgoFile, handled bool, err error) {
	rel := func(p, dflt string) (string, error) {
		if p == "" {
			p = dflt
		}
		var joined string
		if strings.HasPrefix(p, "/") {
			joined = path.Clean(p)[1:]
		} else {
			joined = path.Clean(path.Join(ac.SourcePath, p))
		}
		if joined == ".." || strings.HasPrefix(joined, "../") {
			return "", fmt.Errorf("write-back target %q: %w", p, writeback.ErrOutsideRoot)
		}
		if joined == "" {
			joined = "."
		}
		return joined, nil
	}
	switch ac.Target {
	case config.ArgoTargetKustomization:
		p, err := rel(ac.TargetPath, ".")
		if err != nil {
			return "", "", true, err
		}
		if !isDir(dir, p) {
			return p, writeback.ArgoKustomization, true, nil
		}
		for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
			if f := path.Join(p, name); fileExists(dir, f) {
				return f, writeback.ArgoKustomization, true, nil
			}
		}
		return "", "", true, fmt.Errorf("write-back target kustomization: no kustomization file in %s", p)
	case config.ArgoTargetHelmValues:
		p, err := rel(ac.TargetPath, "values.yaml")
		return p, writeback.ArgoHelmValues, true, err
	}
	typ, err := argoDetect(dir, ac)
	if err != nil {
		return "", "", true, err
	}
	file = path.Join(ac.SourcePath, ac.SourceFile())
	switch typ {
	case config.ArgoTypeHelm:
		return file, writeback.ArgoSourceHelm, true, nil
	case config.ArgoTypeKustomize:
		return file, writeback.ArgoSourceKustomize, true, nil
	}
	return "", "", false, nil
}

func isDir(dir, p string) bool {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer func() { _ = r.Close() }() // read only
	fi, err := r.Stat(p)
	return err == nil && fi.IsDir()
}

func fileExists(dir, p string) bool {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return false
	}
	defer func() { _ = r.Close() }() // read only
	fi, err := r.Lstat(p)
	return err == nil && fi.Mode().Type()&fs.ModeType == 0
}

// argoEdit writes an Argo CD Application's images where Argo CD reads
// them, in the clone at dir. pins are selections already made (a re-plan
// after a lost race, or the service's known ones); the other policies are
// scanned; write false plans without writing. handled is false when the
// Application's images are written through markers instead (see
// argoTarget).
func (r *Runner) argoEdit(ctx context.Context, dir string, ac *config.ArgoCD, policies []*config.Policy, pins map[string]string, write bool) (argoOutcome, bool, error) {
	var out argoOutcome
	file, kind, handled, err := argoTarget(dir, ac)
	if !handled || err != nil {
		return out, handled, err
	}
	sel := map[string]string{}
	out.selections, out.errs = r.argoSelect(ctx, file, policies, pins, sel)
	data, err := writeback.ReadArgo(dir, file)
	if err != nil {
		return out, true, err
	}
	images := r.argoLive(ac, ac.HasStatus, ac.Running)
	plan, changes, err := r.argoPlan(file, data, kind, images, policies, sel)
	if err != nil {
		var fe *writeback.FileError
		if !errors.As(err, &fe) {
			fe = &writeback.FileError{File: file, Err: err}
		}
		out.errs = append(out.errs, fe)
		return out, true, nil
	}
	if len(changes) == 0 {
		return out, true, nil
	}
	if write {
		if err := writeback.WriteArgo(dir, file, plan); err != nil {
			return out, true, err
		}
	}
	out.files = []writeback.FileResult{{Path: file, Changes: plan.Changes, Old: plan.Old, New: plan.New}}
	out.changes = changes
	return out, true, nil
}

// argoSelect fills sel (policy key → reference) with the selections of
// policies: pinned ones as they are, the others scanned (but suspended
// ones). It returns the scans' selections, and a *writeback.FileError
// naming file for each failed one.
func (r *Runner) argoSelect(ctx context.Context, file string, policies []*config.Policy, pins, sel map[string]string) ([]Selection, []*writeback.FileError) {
	var scan []*config.Policy
	for _, p := range policies {
		key := p.Namespace + ":" + p.Name
		if ref, ok := pins[key]; ok {
			sel[key] = ref
			continue
		}
		if p.Spec.Suspend || (p.Repository != nil && p.Repository.Spec.Suspend) {
			continue
		}
		scan = append(scan, p)
	}
	if len(scan) == 0 {
		return nil, nil
	}
	var (
		sels []Selection
		errs []*writeback.FileError
	)
	for _, s := range r.Scanner.Scan(ctx, &config.Set{Policies: scan}) {
		sels = append(sels, s)
		if s.Err != nil {
			errs = append(errs, &writeback.FileError{File: file, Policy: s.Key(), Err: s.Err})
			continue
		}
		sel[s.Key()] = s.Ref
	}
	return sels, errs
}

// argoLive returns the images of the Application to update: with a
// status (hasStatus), those it runs (running, IMAGE:TAG as Argo CD's
// status.summary.images reports them) and those with force-update, Image
// Updater's forceUpdate: false rule; without one, all of them.
func (r *Runner) argoLive(ac *config.ArgoCD, hasStatus bool, running []string) []config.ArgoCDImage {
	if !hasStatus {
		return ac.Images
	}
	live := map[string]bool{}
	for _, ref := range running {
		live[imageRepository(ref)] = true
	}
	var out []config.ArgoCDImage
	for _, im := range ac.Images {
		if im.Force || live[imageRepository(im.Image)] {
			out = append(out, im)
			continue
		}
		r.logger().Info("image not running in the Application, left alone (force-update is false)", "application", ac.AppNamespace+"/"+ac.App, "image", im.Image)
	}
	return out
}

// imageRepository is the repository of an image reference, normalised as
// registries name it (docker.io/library/nginx for nginx:1.2); the
// reference as written when it does not parse.
func imageRepository(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ref
	}
	return r.Context().Name()
}

// argoPlan plans the write-back of images into file (data, of kind) with
// the selections sel, and returns the plan and its changes with Image
// Updater's template data (.Image, .OldTag, .NewTag). A semver policy
// never writes a version older than the file's (see docs/guarantees.md):
// such an image is left alone.
func (r *Runner) argoPlan(file string, data []byte, kind writeback.ArgoFile, imgs []config.ArgoCDImage, policies []*config.Policy, sel map[string]string) (writeback.ArgoPlan, []writeback.Change, error) {
	images := make([]writeback.ArgoImage, 0, len(imgs))
	imageOf := map[string]config.ArgoCDImage{}
	for _, im := range imgs {
		imageOf[im.Policy] = im
		images = append(images, writeback.ArgoImage{
			Policy: im.Policy, Ref: sel[im.Policy],
			HelmName: im.HelmName, HelmTag: im.HelmTag, HelmSpec: im.HelmSpec,
			KustomizeName: im.KustomizeName,
		})
	}
	rules := map[string]*policy.Policy{}
	for _, p := range policies {
		rules[p.Namespace+":"+p.Name] = p.Compiled
	}
	for {
		plan, err := writeback.PlanArgo(file, data, kind, images)
		if err != nil {
			return plan, nil, err
		}
		byPolicy := argoChangeTags(plan.Changes, sel, imageOf)
		again := false
		for i := range images {
			t, ok := byPolicy[images[i].Policy]
			if rule := rules[images[i].Policy]; ok && rule != nil && rule.Rule() == policy.RuleSemver && older(t.new, t.old) {
				r.logger().Warn("not writing an older version than the file has", "file", file, "policy", images[i].Policy, "file_tag", t.old, "selected", t.new)
				images[i].Ref = ""
				again = true
			}
		}
		if again {
			continue
		}
		changes := make([]writeback.Change, 0, len(plan.Changes))
		for _, c := range plan.Changes {
			t := byPolicy[c.Policy]
			c.FullImage = imageOf[c.Policy].Image
			c.Image, c.OldTag, c.NewTag = ArgoImageName(c.FullImage), t.old, t.new
			changes = append(changes, c)
		}
		return plan, changes, nil
	}
}

// argoTags are an image's tags before and after, Image Updater's OldTag
// and NewTag.
type argoTags struct{ old, new string }

// argoChangeTags returns the tags of each image (by policy key) that the
// changes of a plan write.
func argoChangeTags(changes []writeback.Change, sel map[string]string, imageOf map[string]config.ArgoCDImage) map[string]argoTags {
	byPolicy := map[string]argoTags{}
	for _, c := range changes {
		t := byPolicy[c.Policy]
		t.new = refTag(sel[c.Policy])
		im := imageOf[c.Policy]
		key := c.Field
		if k, ok := strings.CutPrefix(key, "helm.parameters[name="); ok {
			key = strings.TrimSuffix(k, "].value")
		}
		switch {
		case key == im.HelmTag || strings.HasSuffix(key, ".newTag"):
			t.old, _, _ = strings.Cut(c.Old, "@")
		case key == im.HelmName || strings.HasSuffix(key, ".newName") || strings.HasSuffix(key, ".digest"):
		default:
			t.old = refTag(c.Old)
		}
		byPolicy[c.Policy] = t
	}
	return byPolicy
}

// refTag is the tag of a reference ([OLD=]NAME:TAG[@DIGEST]), "" when it
// has none.
func refTag(v string) string {
	if _, after, ok := strings.Cut(v, "="); ok {
		v = after
	}
	v, _, _ = strings.Cut(v, "@")
	if i := strings.LastIndexByte(v, ':'); i > strings.LastIndexByte(v, '/') {
		return v[i+1:]
	}
	return ""
}

// argoMarkerChanges fills Image Updater's template data (.AppChanges) of
// the changes an Application's images made through markers (a plain
// directory).
func argoMarkerChanges(ac *config.ArgoCD, changes []writeback.Change) {
	image := map[string]string{}
	for _, im := range ac.Images {
		image[im.Policy] = im.Image
	}
	for i := range changes {
		c := &changes[i]
		name, ok := image[c.Policy]
		if !ok {
			continue
		}
		c.Image, c.FullImage = ArgoImageName(name), name
		c.OldTag, c.NewTag = refTag(c.Old), refTag(c.New)
		if !strings.ContainsAny(c.Old, ":/") {
			c.OldTag, c.NewTag = c.Old, c.New
		}
	}
}

// DefaultExtCredentialsTimeout bounds one run of an ext: credentials
// script.
const DefaultExtCredentialsTimeout = 30 * time.Second

// argoKeychain returns the credentials of an Argo CD Image Updater pull
// secret in the forms secret:NS/NAME#FIELD (the file FIELD of the secret
// NAME in the secrets directory), env:VAR and ext:/SCRIPT (what the script
// prints, when s.AllowExtCredentials), each holding USERNAME:PASSWORD.
func (s *Scanner) argoKeychain(ctx context.Context, v string) (authn.Keychain, error) {
	name, field, env, script, err := config.ArgoPullSecret(v)
	if err != nil {
		return nil, err
	}
	var cred string
	switch {
	case script != "":
		if !s.AllowExtCredentials {
			return nil, fmt.Errorf("pull secret %q (annotation %s): %w", v, config.ArgoPullSecretAnnotation, config.ErrExtCredentials)
		}
		out, err := s.runExtCredentials(ctx, script)
		if err != nil {
			return nil, err
		}
		cred = out
	case env != "":
		lookup := s.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		val, ok := lookup(env)
		if !ok {
			return nil, fmt.Errorf("pull secret env:%s: the variable is not set", env)
		}
		cred = val
	default:
		if s.SecretsDir == "" {
			return nil, fmt.Errorf("pull secret secret:%s#%s needs --secrets-dir", name, field)
		}
		if !filepathLocal(name) || !filepathLocal(field) {
			return nil, fmt.Errorf("pull secret %q: the name and field must be plain names", v)
		}
		data, err := os.ReadFile(filepath.Join(s.SecretsDir, name, field))
		if err != nil {
			return nil, fmt.Errorf("pull secret secret:%s#%s: %w", name, field, err)
		}
		cred = string(data)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || user == "" {
		// The value is not quoted: it is a credential.
		return nil, fmt.Errorf("pull secret %s: want USERNAME:PASSWORD", strings.SplitN(v, "#", 2)[0])
	}
	return staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: pass})}, nil
}

// runExtCredentials runs an ext: credentials script as Image Updater does:
// the program itself (no shell, no arguments) with hoist's environment,
// bounded by s.ExtCredentialsTimeout; its standard output is the
// credential. Neither the output nor the standard error (which may echo
// a secret) is logged or put in an error.
func (s *Scanner) runExtCredentials(ctx context.Context, script string) (string, error) {
	timeout := s.ExtCredentialsTimeout
	if timeout <= 0 {
		timeout = DefaultExtCredentialsTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("pull secret ext:%s: no answer within %s", script, timeout)
		}
		return "", fmt.Errorf("pull secret ext:%s: %w (%d bytes on stderr, not shown: it may hold a secret)", script, err, stderr.Len())
	}
	return stdout.String(), nil
}

func filepathLocal(name string) bool {
	return name != "" && filepath.IsLocal(name) && !strings.ContainsAny(name, `/\`)
}

// staticKeychain answers every registry with one credential.
type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// argoBranchImage is one image of Image Updater's branch template data
// (.Images), as Image Updater fills it: Name is its ImageName (see
// ArgoImageName), OldTag and NewTag what its tags print (a digest for the
// digest strategy).
type argoBranchImage struct {
	Name, Alias, OldTag, NewTag string
}

// argoBranchData is Image Updater's branch template data.
type argoBranchData struct {
	AppName, AppNamespace string
	Images                []argoBranchImage
	// SHA256 is Image Updater's hash of the changes (argoBranchSHA256).
	SHA256 string
}

// argoBranchSHA256 is the .SHA256 of Image Updater's branch template
// data: the hex SHA-256 of "NAME-OLDTAG-NEWTAG," for each changed image,
// in the order of the Application's images, with nothing between them
// (its TemplateBranchName). The same changes give the same branch name as
// with Image Updater, so that the branches it created are reused.
func argoBranchSHA256(images []argoBranchImage) string {
	h := sha256.New()
	for _, im := range images {
		_, _ = fmt.Fprintf(h, "%s-%s-%s,", im.Name, im.OldTag, im.NewTag) // a hash never fails to write
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ArgoImageName is Image Updater's ImageName of an image (its
// image.NewFromIdentifier): the repository's path without the registry,
// and without Docker Hub's library/ unless the image names it so
// (ghcr.io/acme/web is acme/web; nginx and docker.io/library/nginx are
// nginx; library/nginx stays as it is).
func ArgoImageName(image string) string {
	ref, err := name.NewRepository(image, name.WeakValidation)
	if err != nil {
		return image
	}
	p := ref.RepositoryStr()
	if !strings.HasPrefix(image, "library/") {
		p = strings.TrimPrefix(p, "library/")
	}
	return p
}

// argoTagString is what Image Updater prints of the tag of a reference
// (TAG[@DIGEST]): the digest when it has one, else the tag.
func argoTagString(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return refTag(ref)
}

// argoBranchImages are the images of an Application that changes change,
// in the order of its images, as Image Updater's change list holds them:
// OldTag is the tag the Application runs (status.summary.images) when it
// has a status that lists the image, else the one the file held; NewTag
// is the tag selected, its digest for a digest policy.
func argoBranchImages(ac *config.ArgoCD, changes []writeback.Change, digest map[string]bool, sel map[string]string) []argoBranchImage {
	byPolicy := map[string]writeback.Change{}
	for _, c := range changes {
		if _, seen := byPolicy[c.Policy]; !seen {
			byPolicy[c.Policy] = c
		}
	}
	running := map[string]string{}
	if ac.HasStatus {
		for _, ref := range ac.Running {
			running[imageRepository(ref)] = ref
		}
	}
	var out []argoBranchImage
	for _, im := range ac.Images {
		c, ok := byPolicy[im.Policy]
		if !ok {
			continue
		}
		b := argoBranchImage{Name: ArgoImageName(im.Image), Alias: im.Alias, OldTag: c.OldTag, NewTag: c.NewTag}
		if digest[im.Policy] {
			b.NewTag = argoTagString(sel[im.Policy])
			if _, d, ok := strings.Cut(c.Old, "@"); ok {
				b.OldTag = d
			}
		}
		if ref, ok := running[imageRepository(im.Image)]; ok {
			b.OldTag = argoTagString(ref)
		}
		out = append(out, b)
	}
	return out
}

// argoBranch renders the push branch template of an Argo CD Application
// from the changes its write-back would make in the clone at dir (planned,
// not written), and returns it with the selections made, which the edit
// must use. The branch is "" when there is nothing to change.
func (r *Runner) argoBranch(ctx context.Context, dir string, set *config.Set, a *config.Automation, known Known) (string, map[string]string, error) {
	ac := a.ArgoCD
	policies, err := set.PoliciesFor(a)
	if err != nil {
		return "", nil, err
	}
	pins := map[string]string{}
	if known != nil {
		for _, p := range policies {
			if ref, ok := known(p); ok {
				pins[p.Namespace+":"+p.Name] = ref
			}
		}
	}
	out, handled, err := r.argoEdit(ctx, dir, ac, policies, pins, false)
	if err != nil {
		return "", nil, err
	}
	if !handled {
		return "", nil, fmt.Errorf("branch template %q: a plain directory's images are written through markers, which a branch template cannot name; give the branch without a template", ac.BranchTemplate)
	}
	for _, s := range out.selections {
		if s.Err == nil {
			pins[s.Key()] = s.Ref
		}
	}
	if len(out.changes) == 0 {
		if len(out.errs) > 0 {
			return "", nil, out.errs[0]
		}
		return "", pins, nil
	}
	digest := map[string]bool{}
	for _, p := range policies {
		digest[p.Namespace+":"+p.Name] = p.Compiled != nil && p.Compiled.Rule() == policy.RuleDigest
	}
	data := argoBranchData{AppName: ac.App, AppNamespace: ac.AppNamespace}
	data.Images = argoBranchImages(ac, out.changes, digest, pins)
	data.SHA256 = argoBranchSHA256(data.Images)
	funcs := git.TemplateFuncs()
	// text/template's own slice, which cuts strings too (Image Updater's
	// templates say slice .SHA256 0 8); Sprig's takes lists only.
	delete(funcs, "slice")
	t, err := template.New("branch").Funcs(funcs).Parse(ac.BranchTemplate)
	if err != nil {
		return "", nil, fmt.Errorf("branch template %q: %w", ac.BranchTemplate, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", nil, fmt.Errorf("branch template %q: %w", ac.BranchTemplate, err)
	}
	branch := strings.TrimSpace(b.String())
	if err := config.CheckBranchName(branch); err != nil {
		return "", nil, fmt.Errorf("branch template %q: %w", ac.BranchTemplate, err)
	}
	return branch, pins, nil
}

// argoBranchPush is the step of an Argo CD Application whose push branch is
// a template (git-branch BASE:TARGET): it renders the branch from the
// changes planned in the clone at dir, and has the run push there (with
// that branch's lease, and a pull request when one is asked for) and write
// those very selections. It reports whether there is anything to change.
func (r *Runner) argoBranchPush(ctx context.Context, dir string, set *config.Set, a *config.Automation, known Known, t Target, pub *publish, p *planner, key string) (bool, error) {
	branch, pins, err := r.argoBranch(ctx, dir, set, a, known)
	if err != nil || branch == "" {
		return false, err
	}
	pub.push.Branch, pub.push.Lease, p.pins = branch, "", pins
	if r.State != nil {
		if rec, ok, err := r.State.LastPush(key); err == nil && ok && rec.Branch == branch {
			pub.push.Lease = rec.Commit
		}
	}
	pub.pullRequest = pullRequestSpec(a) != nil && branch != t.Branch
	return true, nil
}

// noteArgo keeps what an attempt that wrote an Application's images found
// (see note), and pins its selections for the attempts after it.
func (p *planner) noteArgo(out argoOutcome, pinned map[string]string) {
	if p.pins == nil {
		p.pins = map[string]string{}
		maps.Copy(p.pins, pinned)
		for _, s := range out.selections {
			if s.Err == nil {
				p.pins[s.Key()] = s.Ref
			}
		}
	}
	p.errors, p.files, p.rel = out.errs, out.files, ""
}
