package config

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

// The API groups and kinds of Argo CD and Argo CD Image Updater that are
// read (see docs/argocd.md).
const (
	argoGroup             = "argoproj.io"
	argoImageUpdaterGroup = "argocd-image-updater.argoproj.io"
	ApplicationKind       = "Application"
	ImageUpdaterKind      = "ImageUpdater"
)

// ArgoCDNamespace is Argo CD's own namespace: an Application there writes
// .argocd-source-APP.yaml, one elsewhere .argocd-source-NS_APP.yaml, as Argo
// CD reads them.
const ArgoCDNamespace = "argocd"

// The write-back targets of an Argo CD Application.
const (
	ArgoTargetSource        = ""              // .argocd-source-APP.yaml
	ArgoTargetKustomization = "kustomization" // the images of a kustomization file
	ArgoTargetHelmValues    = "helmvalues"    // a Helm values file
)

// The source types of an Argo CD Application.
const (
	ArgoTypeHelm      = "helm"
	ArgoTypeKustomize = "kustomize"
	ArgoTypeDirectory = "directory"
)

// ArgoCDDefaultMessageTemplate is Image Updater's default commit message,
// with its template data (.AppName, .AppChanges).
const ArgoCDDefaultMessageTemplate = `build: automatic update of {{ .AppName }}

{{ range .AppChanges -}}
updates image {{ .Image }} tag '{{ .OldTag }}' to '{{ .NewTag }}'
{{ end -}}
`

// ArgoCD is the write-back of an ImageUpdateAutomation converted from an
// Argo CD Application (with Image Updater's annotations, or selected by an
// ImageUpdater): which files of the Application's source receive which
// images, as Argo CD reads them.
type ArgoCD struct {
	// App and AppNamespace name the Application.
	App, AppNamespace string
	// SourcePath is the path of the Application's source in the
	// repository, slash-separated, "." for the root.
	SourcePath string
	// Type is the source's type when the Application names it (helm or
	// kustomize); "" means Argo CD detects it from the files at SourcePath.
	Type string
	// Target is ArgoTargetSource, ArgoTargetKustomization or
	// ArgoTargetHelmValues; TargetPath is the path written after the
	// colon, "" for the default.
	Target, TargetPath string
	// Images are the images the Application follows.
	Images []ArgoCDImage
	// Method is ArgoMethodGit (the default) or ArgoMethodAPI: the
	// Application's spec patched through the Kubernetes API, which only
	// the controller does (see LoadOptions.ArgoCDAPI).
	Method string
	// SourceIndex is the source of spec.sources patched by ArgoMethodAPI,
	// -1 for spec.source.
	SourceIndex int
	// Running are the images the Application runs (status.summary.images,
	// IMAGE:TAG as Argo CD reports them) when its document has a status
	// (HasStatus): then an image without force-update that it does not run
	// is left alone, Image Updater's forceUpdate: false rule. Without a
	// status every image is updated.
	Running   []string
	HasStatus bool
	// BranchTemplate is the push branch (git-branch's TARGET) when it is a
	// template: rendered before each push with Image Updater's data
	// (.AppName, .AppNamespace, .Images, .SHA256) from the changes to be
	// made. Empty when the branch is fixed (spec.git.push.branch).
	BranchTemplate string
	// SecretNamespace is the namespace of the Git credentials Secret that
	// write-back method git:secret:NAMESPACE/NAME names (NAME is
	// spec.git.secretRef of the automation); "" without one. It is the
	// Application's namespace for git:secret:NAME. Outside a cluster it is
	// not used; the controller reads the Secret there, and only where the
	// Secret admits the Application's namespace (see docs/argocd.md).
	SecretNamespace string
}

// ArgoCDImage is one image of an Application.
type ArgoCDImage struct {
	// Alias is the image's alias in image-list or the ImageUpdater, "" when
	// it has none.
	Alias string
	// Image is the image's repository, as written (no tag).
	Image string
	// Policy is the key of the ImagePolicy converted for it,
	// NAMESPACE:NAME.
	Policy string
	// HelmName, HelmTag and HelmSpec are the Helm parameters written
	// (helm.image-name, helm.image-tag, helm.image-spec); defaults
	// image.name and image.tag.
	HelmName, HelmTag, HelmSpec string
	// KustomizeName is the image's name in the kustomization
	// (kustomize.image-name); default Image.
	KustomizeName string
	// Force is force-update (forceUpdate): the image is updated even when
	// the Application does not run it.
	Force bool
}

// The write-back methods of an Argo CD Application.
const (
	ArgoMethodGit = "git"    // a commit to the Application's repository
	ArgoMethodAPI = "argocd" // the Application's spec, patched through the API
)

// SourceFile is the name of the .argocd-source file Argo CD reads for the
// Application: .argocd-source-APP.yaml in Argo CD's namespace (or none),
// .argocd-source-NS_APP.yaml elsewhere.
func (a *ArgoCD) SourceFile() string {
	if a.AppNamespace == "" || a.AppNamespace == ArgoCDNamespace {
		return ".argocd-source-" + a.App + ".yaml"
	}
	return ".argocd-source-" + a.AppNamespace + "_" + a.App + ".yaml"
}

// argoApplication is the part of an Argo CD Application that is read. It
// is decoded leniently: the rest of Argo CD's API is skipped.
type argoApplication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Source  *argoSource  `json:"source,omitempty"`
		Sources []argoSource `json:"sources,omitempty"`
	} `json:"spec"`
	// Status is what Argo CD reports, nil when the document has none.
	Status *struct {
		Summary struct {
			Images []string `json:"images,omitempty"`
		} `json:"summary,omitempty"`
		SourceType  string   `json:"sourceType,omitempty"`
		SourceTypes []string `json:"sourceTypes,omitempty"`
	} `json:"status,omitempty"`
}

type argoSource struct {
	RepoURL        string    `json:"repoURL,omitempty"`
	TargetRevision string    `json:"targetRevision,omitempty"`
	Path           string    `json:"path,omitempty"`
	Chart          string    `json:"chart,omitempty"`
	Ref            string    `json:"ref,omitempty"`
	Helm           *struct{} `json:"helm,omitempty"`
	Kustomize      *struct{} `json:"kustomize,omitempty"`
	Directory      *struct{} `json:"directory,omitempty"`
	Plugin         *struct{} `json:"plugin,omitempty"`
}

// argoImageUpdater is Image Updater's ImageUpdater (v1.x), decoded
// strictly.
type argoImageUpdater struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Namespace            string           `json:"namespace,omitempty"`
		CommonUpdateSettings *argoCommon      `json:"commonUpdateSettings,omitempty"`
		WriteBackConfig      *argoWriteConfig `json:"writeBackConfig,omitempty"`
		ApplicationRefs      []argoAppRef     `json:"applicationRefs"`
		Images               []argoIUImage    `json:"images,omitempty"`
		ImagesVerification   any              `json:"imagesVerification,omitempty"`
	} `json:"spec"`
}

type argoAppRef struct {
	NamePattern          string                `json:"namePattern"`
	LabelSelectors       *metav1.LabelSelector `json:"labelSelectors,omitempty"`
	UseAnnotations       bool                  `json:"useAnnotations,omitempty"`
	CommonUpdateSettings *argoCommon           `json:"commonUpdateSettings,omitempty"`
	WriteBackConfig      *argoWriteConfig      `json:"writeBackConfig,omitempty"`
	Images               []argoIUImage         `json:"images,omitempty"`
}

type argoIUImage struct {
	Alias                string      `json:"alias"`
	ImageName            string      `json:"imageName"`
	CommonUpdateSettings *argoCommon `json:"commonUpdateSettings,omitempty"`
	Platforms            []string    `json:"platforms,omitempty"`
	ManifestTargets      *struct {
		Helm *struct {
			Name string `json:"name,omitempty"`
			Tag  string `json:"tag,omitempty"`
			Spec string `json:"spec,omitempty"`
		} `json:"helm,omitempty"`
		Kustomize *struct {
			Name string `json:"name,omitempty"`
		} `json:"kustomize,omitempty"`
	} `json:"manifestTargets,omitempty"`
}

type argoCommon struct {
	UpdateStrategy string   `json:"updateStrategy,omitempty"`
	ForceUpdate    *bool    `json:"forceUpdate,omitempty"`
	AllowTags      string   `json:"allowTags,omitempty"`
	IgnoreTags     []string `json:"ignoreTags,omitempty"`
	PullSecret     string   `json:"pullSecret,omitempty"`
	Platforms      []string `json:"platforms,omitempty"`
}

type argoWriteConfig struct {
	Method    string `json:"method,omitempty"`
	GitConfig *struct {
		Repository      string `json:"repository,omitempty"`
		Branch          string `json:"branch,omitempty"`
		WriteBackTarget string `json:"writeBackTarget,omitempty"`
		PullRequest     *struct {
			GitHub any      `json:"github,omitempty"`
			GitLab any      `json:"gitlab,omitempty"`
			Gitea  any      `json:"gitea,omitempty"`
			Labels []string `json:"labels,omitempty"`
		} `json:"pullRequest,omitempty"`
	} `json:"gitConfig,omitempty"`
}

// mapGet returns the value of key in the mapping n, or nil.
func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n = resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// argoApp is an Application read, with its document.
type argoApp struct {
	app *argoApplication
	d   *document
}

type argoUpdater struct {
	iu *argoImageUpdater
	d  *document
	// verify is what spec.imagesVerification maps onto, for every image.
	verify *v1alpha1.ImageVerification
}

// parseArgo decodes an Application or an ImageUpdater; they are converted
// once every file is read (convertArgo), as an ImageUpdater selects
// Applications of any file.
func (l *loader) parseArgo(d *document, root *yaml.Node) {
	switch d.kind {
	case ApplicationKind:
		o := &argoApplication{}
		d.lenient = true
		if d.decode(root, o) {
			if o.Namespace == "" {
				o.Namespace = ArgoCDNamespace
			}
			l.argoApps = append(l.argoApps, &argoApp{app: o, d: d})
		}
	case ImageUpdaterKind:
		o := &argoImageUpdater{}
		if d.decode(root, o) {
			if o.Name == "" {
				d.errorf("metadata.name", "required")
			}
			if o.Namespace == "" {
				o.Namespace = ArgoCDNamespace
			}
			if o.Spec.Namespace == "" {
				o.Spec.Namespace = o.Namespace
			}
			u := &argoUpdater{iu: o, d: d}
			if o.Spec.ImagesVerification != nil {
				u.verify = argoVerification(d, o.Spec.ImagesVerification)
			}
			l.argoUpdaters = append(l.argoUpdaters, u)
		}
	}
}

// convertArgo turns the Applications and ImageUpdaters read into
// ImageRepositories, ImagePolicies and ImageUpdateAutomations: an
// Application selected by an ImageUpdater takes its images and settings
// from there (from its annotations with useAnnotations). Without any
// ImageUpdater, every Application is read from its annotations (Image
// Updater v0.x); with one, an Application no ImageUpdater selects is left
// alone (v1.x).
func (l *loader) convertArgo() {
	if c := l.argoConfig; c != nil {
		l.set.ArgoCDKubeEventsOff = c.noEvents
	}
	claimed := map[*argoApp]*argoUpdater{}
	for _, u := range l.argoUpdaters {
		spec := &u.iu.Spec
		if len(spec.ApplicationRefs) == 0 {
			u.d.required("spec.applicationRefs")
		}
		for i, ref := range spec.ApplicationRefs {
			rp := fmt.Sprintf("spec.applicationRefs[%d]", i)
			if ref.NamePattern == "" {
				u.d.required(rp + ".namePattern")
				continue
			}
			if _, err := path.Match(ref.NamePattern, ""); err != nil {
				u.d.errorf(rp+".namePattern", "%q: %v", ref.NamePattern, err)
				continue
			}
			sel := labels.Everything()
			if ref.LabelSelectors != nil {
				s, err := metav1.LabelSelectorAsSelector(ref.LabelSelectors)
				if err != nil {
					u.d.fail(rp+".labelSelectors", err)
					continue
				}
				sel = s
			}
			for _, a := range l.argoApps {
				if a.app.Namespace != spec.Namespace || !sel.Matches(labels.Set(a.app.Labels)) {
					continue
				}
				if ok, _ := path.Match(ref.NamePattern, a.app.Name); !ok {
					continue
				}
				if prev := claimed[a]; prev != nil {
					u.d.errorf(rp+".namePattern", "selects Application %s/%s, which ImageUpdater %s/%s (%s:%d) selects too",
						a.app.Namespace, a.app.Name, prev.iu.Namespace, prev.iu.Name, prev.d.file, prev.d.start.line)
					continue
				}
				claimed[a] = u
				if ref.UseAnnotations {
					l.argoFromAnnotations(a)
					continue
				}
				images, probs := u.images(i)
				wb := u.writeBack(i)
				for _, p := range probs {
					u.d.fail(p.field, p.err)
				}
				if len(images) > 0 {
					l.argoAutomation(a, images, wb, u.d)
				}
			}
		}
	}
	if len(l.argoUpdaters) > 0 {
		// Image Updater v1.x: Applications are read through ImageUpdaters
		// only; their annotations count with useAnnotations alone.
		return
	}
	for _, a := range l.argoApps {
		l.argoFromAnnotations(a)
	}
}

func (l *loader) argoFromAnnotations(a *argoApp) {
	images, wb, probs := parseArgoAnnotations(a.app.Annotations)
	for _, p := range probs {
		a.d.fail(p.field, p.err)
	}
	if len(images) > 0 {
		l.argoAutomation(a, images, wb, a.d)
	}
}

// images returns the images of the ImageUpdater for its applicationRefs[i],
// each setting taken from the image, else the reference, else the spec.
func (u *argoUpdater) images(i int) ([]argoImage, []argoProblem) {
	spec := &u.iu.Spec
	ref := spec.ApplicationRefs[i]
	list, listPath := spec.Images, "spec.images"
	if len(ref.Images) > 0 {
		list, listPath = ref.Images, fmt.Sprintf("spec.applicationRefs[%d].images", i)
	}
	var probs []argoProblem
	if len(list) == 0 {
		probs = append(probs, argoProblem{"spec.images", fmt.Errorf("required: the images of applicationRefs[%d]", i)})
	}
	type level struct {
		c    *argoCommon
		path string
	}
	var out []argoImage
	seen := map[string]bool{}
	for j, im := range list {
		ip := fmt.Sprintf("%s[%d]", listPath, j)
		if im.Alias == "" {
			probs = append(probs, argoProblem{ip + ".alias", fmt.Errorf("required")})
			continue
		}
		if !argoAlias.MatchString(im.Alias) {
			probs = append(probs, argoProblem{ip + ".alias", fmt.Errorf("%q: want letters, digits, '-' and '_'", im.Alias)})
			continue
		}
		if seen[im.Alias] {
			probs = append(probs, argoProblem{ip + ".alias", fmt.Errorf("%q is used twice", im.Alias)})
			continue
		}
		seen[im.Alias] = true
		if im.ImageName == "" {
			probs = append(probs, argoProblem{ip + ".imageName", fmt.Errorf("required")})
			continue
		}
		image, constraint := splitImageConstraint(im.ImageName)
		a := argoImage{alias: im.Alias, image: image, constraint: constraint, field: ip + ".imageName", verify: u.verify}
		levels := []level{
			{im.CommonUpdateSettings, ip + ".commonUpdateSettings"},
			{ref.CommonUpdateSettings, fmt.Sprintf("spec.applicationRefs[%d].commonUpdateSettings", i)},
			{spec.CommonUpdateSettings, "spec.commonUpdateSettings"},
		}
		pick := func(get func(*argoCommon) (string, bool), name string) argoSetting {
			for _, lv := range levels {
				if lv.c == nil {
					continue
				}
				if v, ok := get(lv.c); ok {
					return argoSetting{value: v, field: lv.path + "." + name}
				}
			}
			return argoSetting{}
		}
		str := func(f func(*argoCommon) string) func(*argoCommon) (string, bool) {
			return func(c *argoCommon) (string, bool) { v := f(c); return v, v != "" }
		}
		a.strategy = pick(str(func(c *argoCommon) string { return c.UpdateStrategy }), "updateStrategy")
		a.allowTags = pick(str(func(c *argoCommon) string { return c.AllowTags }), "allowTags")
		a.pullSecret = pick(str(func(c *argoCommon) string { return c.PullSecret }), "pullSecret")
		a.ignoreTags = pick(func(c *argoCommon) (string, bool) {
			return strings.Join(c.IgnoreTags, ","), c.IgnoreTags != nil
		}, "ignoreTags")
		a.force = pick(func(c *argoCommon) (string, bool) {
			if c.ForceUpdate == nil {
				return "", false
			}
			return fmt.Sprint(*c.ForceUpdate), true
		}, "forceUpdate")
		if len(im.Platforms) > 0 {
			a.platforms = argoSetting{value: strings.Join(im.Platforms, ","), field: ip + ".platforms"}
		} else {
			a.platforms = pick(func(c *argoCommon) (string, bool) {
				return strings.Join(c.Platforms, ","), len(c.Platforms) > 0
			}, "platforms")
		}
		if mt := im.ManifestTargets; mt != nil {
			if mt.Helm != nil && mt.Kustomize != nil {
				probs = append(probs, argoProblem{ip + ".manifestTargets", fmt.Errorf("set helm or kustomize, not both")})
			}
			if h := mt.Helm; h != nil {
				set := func(v, f string) argoSetting {
					if v == "" {
						return argoSetting{}
					}
					return argoSetting{value: v, field: ip + ".manifestTargets.helm." + f}
				}
				a.helmName, a.helmTag, a.helmSpec = set(h.Name, "name"), set(h.Tag, "tag"), set(h.Spec, "spec")
			}
			if k := mt.Kustomize; k != nil && k.Name != "" {
				a.kustomizeName = argoSetting{value: k.Name, field: ip + ".manifestTargets.kustomize.name"}
			}
		}
		out = append(out, a)
	}
	return out, probs
}

// writeBack returns the write-back settings for applicationRefs[i]: the
// reference's, else the spec's.
func (u *argoUpdater) writeBack(i int) argoWriteBack {
	var wb argoWriteBack
	for _, lv := range []struct {
		c    *argoWriteConfig
		path string
	}{
		{u.iu.Spec.ApplicationRefs[i].WriteBackConfig, fmt.Sprintf("spec.applicationRefs[%d].writeBackConfig", i)},
		{u.iu.Spec.WriteBackConfig, "spec.writeBackConfig"},
	} {
		if lv.c == nil {
			continue
		}
		if !wb.method.set() && lv.c.Method != "" {
			wb.method = argoSetting{value: lv.c.Method, field: lv.path + ".method"}
		}
		g := lv.c.GitConfig
		if g == nil {
			continue
		}
		gp := lv.path + ".gitConfig"
		if !wb.repository.set() && g.Repository != "" {
			wb.repository = argoSetting{value: g.Repository, field: gp + ".repository"}
		}
		if !wb.branch.set() && g.Branch != "" {
			wb.branch = argoSetting{value: g.Branch, field: gp + ".branch"}
		}
		if !wb.target.set() && g.WriteBackTarget != "" {
			wb.target = argoSetting{value: g.WriteBackTarget, field: gp + ".writeBackTarget"}
		}
		if wb.pullRequest == nil && g.PullRequest != nil {
			pr := &argoPullRequest{labels: g.PullRequest.Labels, field: gp + ".pullRequest"}
			switch {
			case g.PullRequest.GitHub != nil:
				pr.provider = "github"
			case g.PullRequest.GitLab != nil:
				pr.provider = "gitlab"
			case g.PullRequest.Gitea != nil:
				pr.provider = "gitea"
			}
			wb.pullRequest = pr
		}
	}
	return wb
}

// argoSource picks the source of the Application that is written to: its
// only source; of several, the one a helmvalues target names with $REF/,
// else the first with a path in Git. It returns the source, its field
// path and the target path with $REF/ removed.
func (a *argoApp) source(targetPath string) (*argoSource, string, string, error) {
	spec := &a.app.Spec
	if len(spec.Sources) == 0 {
		if spec.Source == nil {
			return nil, "spec.source", "", fmt.Errorf("required: the Application has no source")
		}
		if spec.Source.Chart != "" {
			return nil, "spec.source.chart", "", fmt.Errorf("chart %q comes from a Helm repository: there is nothing in Git to write; keep the values in Git (a second source with ref) and write there", spec.Source.Chart)
		}
		return spec.Source, "spec.source", targetPath, nil
	}
	if ref, rest, ok := strings.Cut(strings.TrimPrefix(targetPath, "$"), "/"); ok && strings.HasPrefix(targetPath, "$") {
		for i := range spec.Sources {
			if spec.Sources[i].Ref == ref {
				return &spec.Sources[i], fmt.Sprintf("spec.sources[%d]", i), "/" + path.Join(spec.Sources[i].Path, rest), nil
			}
		}
		return nil, "spec.sources", "", fmt.Errorf("no source with ref %q (named by write-back target %q)", ref, targetPath)
	}
	for i := range spec.Sources {
		if spec.Sources[i].Chart == "" && spec.Sources[i].RepoURL != "" && spec.Sources[i].Ref == "" {
			return &spec.Sources[i], fmt.Sprintf("spec.sources[%d]", i), targetPath, nil
		}
	}
	for i := range spec.Sources {
		if spec.Sources[i].Chart == "" && spec.Sources[i].RepoURL != "" {
			return &spec.Sources[i], fmt.Sprintf("spec.sources[%d]", i), targetPath, nil
		}
	}
	return nil, "spec.sources", "", fmt.Errorf("no source in Git (every source is a chart from a Helm repository)")
}

// CheckBranchName reports a name that Git does not accept as a branch, such
// as a push branch rendered from a template.
func CheckBranchName(s string) error { return checkRefName(s) }

// argoAutomation converts one Application and its images into objects of
// the set. sd is the document the settings were read from (the
// Application's, or an ImageUpdater's).
func (l *loader) argoAutomation(a *argoApp, images []argoImage, wb argoWriteBack, sd *document) {
	app := a.app
	ns := app.Namespace
	fail := func(d *document, field string, err error) { d.fail(field, err) }

	switch m := wb.method.value; {
	case m == "" || m == ArgoMethodAPI:
		if l.argoAPI {
			l.argoAPIAutomation(a, images, sd)
			return
		}
		field := wb.method.field
		if field == "" {
			field = "metadata.annotations"
			if sd != a.d {
				field = "spec.writeBackConfig.method"
			}
		}
		fail(sd, field, fmt.Errorf("write-back method argocd (Image Updater's default) patches the Application through Argo CD's API, which only hoist's controller does; hoist run and hoist update write to Git: set the write-back method to git"))
		return
	case m == "git" || m == "git:repocreds" || strings.HasPrefix(m, "git:secret:"):
	default:
		fail(sd, wb.method.field, fmt.Errorf("write-back method %q: want git, git:secret:NAMESPACE/NAME, git:repocreds or argocd", m))
		return
	}
	var target, targetPath string
	if t := wb.target.value; t != "" {
		kind, p, _ := strings.Cut(t, ":")
		switch kind {
		case ArgoTargetKustomization, ArgoTargetHelmValues:
			target, targetPath = kind, p
		default:
			fail(sd, wb.target.field, fmt.Errorf("write-back target %q: want kustomization[:PATH] or helmvalues[:PATH]", t))
			return
		}
	}
	src, srcField, targetPath, err := a.source(targetPath)
	if err != nil {
		fail(a.d, srcField, err)
		return
	}
	url := src.RepoURL
	if wb.repository.value != "" {
		url = wb.repository.value
	}
	if url == "" {
		fail(a.d, srcField+".repoURL", fmt.Errorf("required"))
		return
	}
	base, pushBranch, branchTmpl := src.TargetRevision, "", ""
	if b := wb.branch.value; b != "" {
		if x, y, ok := strings.Cut(b, ":"); ok {
			base, pushBranch = x, y
		} else {
			base = b
		}
		if base == "" {
			base = src.TargetRevision
		}
		if strings.Contains(pushBranch, "{{") {
			if _, err := template.New("branch").Funcs(sprig.TxtFuncMap()).Parse(pushBranch); err != nil {
				fail(sd, wb.branch.field, fmt.Errorf("branch template %q: %w", pushBranch, err))
				return
			}
			branchTmpl, pushBranch = pushBranch, ""
		}
	}
	if base == "" || base == "HEAD" {
		field := srcField + ".targetRevision"
		if wb.branch.set() {
			fail(sd, wb.branch.field, fmt.Errorf("the base branch is %q: name it (BRANCH or BASE:TARGET)", base))
			return
		}
		fail(a.d, field, fmt.Errorf("%q is not a branch hoist can check out and push to: set targetRevision to the branch, or the git-branch write-back setting", base))
		return
	}
	srcPath := path.Clean("/" + src.Path)[1:]
	if srcPath == "" {
		srcPath = "."
	}
	typ := ""
	switch {
	case src.Helm != nil:
		typ = ArgoTypeHelm
	case src.Kustomize != nil:
		typ = ArgoTypeKustomize
	case src.Directory != nil:
		typ = ArgoTypeDirectory
	}
	out := &ArgoCD{App: app.Name, AppNamespace: ns, SourcePath: srcPath, Type: typ, Target: target, TargetPath: targetPath, BranchTemplate: branchTmpl, Method: ArgoMethodGit, SourceIndex: -1}
	a.status(out)

	auto := &v1alpha1.ImageUpdateAutomation{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImageUpdateAutomationKind},
		ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: ns},
	}
	auto.Spec.Interval.Duration = DefaultInterval
	auto.Spec.Update = &v1alpha1.UpdateStrategy{Strategy: v1alpha1.UpdateStrategySetters, Path: srcPath}
	auto.Spec.Git = &v1alpha1.GitSpec{
		URL:      url,
		Checkout: &v1alpha1.GitCheckoutSpec{Reference: v1alpha1.GitRepositoryRef{Branch: base}},
		Commit: v1alpha1.CommitSpec{
			Author:          v1alpha1.CommitUser{Name: "argocd-image-updater", Email: "noreply@argoproj.io"},
			MessageTemplate: ArgoCDDefaultMessageTemplate,
		},
	}
	if c := l.argoConfig; c != nil {
		c.commit(&auto.Spec.Git.Commit)
	}
	if sec, ok := strings.CutPrefix(wb.method.value, "git:secret:"); ok {
		secNS, name, found := strings.Cut(sec, "/")
		if !found {
			// Image Updater v1.x: a Secret of the Application's namespace.
			secNS, name = ns, sec
		}
		if msgs := validation.IsDNS1123Label(secNS); len(msgs) > 0 || name == "" || len(validation.IsDNS1123Subdomain(name)) > 0 {
			fail(sd, wb.method.field, fmt.Errorf("write-back method %q: want git:secret:NAMESPACE/NAME or git:secret:NAME", wb.method.value))
			return
		}
		auto.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: name}
		out.SecretNamespace = secNS
	}
	if err := checkGitURL(url); err != nil {
		field := srcField + ".repoURL"
		d := a.d
		if wb.repository.set() {
			d, field = sd, wb.repository.field
		}
		fail(d, field, err)
		return
	}
	if pushBranch != "" || branchTmpl != "" {
		auto.Spec.Git.Push = &v1alpha1.PushSpec{Branch: pushBranch}
	}
	if pushBranch != "" {
		if err := checkRefName(pushBranch); err != nil {
			fail(sd, wb.branch.field, err)
			return
		}
	}
	if pr := wb.pullRequest; pr != nil {
		if (pushBranch == "" && branchTmpl == "") || pushBranch == base {
			fail(sd, pr.field, fmt.Errorf("a pull request needs a branch other than the base: set the branch as BASE:TARGET"))
			return
		}
		auto.Spec.Git.Push.PullRequest = &v1alpha1.PullRequestSpec{Provider: pr.provider, Labels: pr.labels}
	}
	l.argoRegister(a, auto, out, images, sd)
}

// argoStatus sets what the Application's status says of the images it
// runs (see ArgoCD.Running).
func (a *argoApp) status(out *ArgoCD) {
	if st := a.app.Status; st != nil {
		out.HasStatus, out.Running = true, st.Summary.Images
	}
}

// argoAPIAutomation converts an Application written with the argocd
// method: its spec's Helm parameters or Kustomize images are patched
// through the Kubernetes API; no Git repository is involved. The source
// patched is spec.source, or of spec.sources the first without ref whose
// type is Helm or Kustomize (named in the spec, else as Argo CD reports
// it in status.sourceTypes), else the first without ref.
func (l *loader) argoAPIAutomation(a *argoApp, images []argoImage, sd *document) {
	app := a.app
	spec := &app.Spec
	typeOf := func(src *argoSource, reported string) string {
		switch {
		case src.Helm != nil:
			return ArgoTypeHelm
		case src.Kustomize != nil:
			return ArgoTypeKustomize
		case src.Directory != nil:
			return ArgoTypeDirectory
		}
		return strings.ToLower(reported)
	}
	out := &ArgoCD{App: app.Name, AppNamespace: app.Namespace, Method: ArgoMethodAPI, SourceIndex: -1}
	switch {
	case len(spec.Sources) > 0:
		var reported []string
		if app.Status != nil {
			reported = app.Status.SourceTypes
		}
		first := -1
		for i := range spec.Sources {
			if spec.Sources[i].Ref != "" {
				continue
			}
			r := ""
			if i < len(reported) {
				r = reported[i]
			}
			if t := typeOf(&spec.Sources[i], r); t == ArgoTypeHelm || t == ArgoTypeKustomize {
				out.SourceIndex, out.Type = i, t
				break
			}
			if first < 0 {
				first = i
			}
		}
		if out.SourceIndex < 0 {
			if first < 0 {
				a.d.fail("spec.sources", fmt.Errorf("write-back method argocd: every source has a ref; want one without, whose Helm parameters or Kustomize images are patched"))
				return
			}
			out.SourceIndex = first
		}
	case spec.Source != nil:
		reported := ""
		if app.Status != nil {
			reported = app.Status.SourceType
		}
		out.Type = typeOf(spec.Source, reported)
	default:
		a.d.fail("spec.source", fmt.Errorf("required: the Application has no source"))
		return
	}
	a.status(out)
	auto := &v1alpha1.ImageUpdateAutomation{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImageUpdateAutomationKind},
		ObjectMeta: metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace},
	}
	auto.Spec.Interval.Duration = DefaultInterval
	l.argoRegister(a, auto, out, images, sd)
}

// argoRegister adds the automation of an Application, and the
// repositories and policies of its images, to the set.
func (l *loader) argoRegister(a *argoApp, auto *v1alpha1.ImageUpdateAutomation, out *ArgoCD, images []argoImage, sd *document) {
	app := a.app
	auto.Spec.PolicySelector = &metav1.LabelSelector{MatchLabels: map[string]string{argoAppLabel: app.Name}}

	var repos []*Repository
	var pols []*Policy
	ok := true
	for _, im := range images {
		r, p, ai, good := l.argoImagePolicy(a, im, sd)
		if !good {
			ok = false
			continue
		}
		repos, pols = append(repos, r), append(pols, p)
		out.Images = append(out.Images, ai)
	}
	if !ok {
		return
	}
	ad := sd.sub(a.d.start)
	ad.kind = v1alpha1.ImageUpdateAutomationKind
	if !l.register(ad, &auto.ObjectMeta) {
		return
	}
	l.docs[auto] = ad
	src2 := Source{File: a.d.file, Line: a.d.start.line, APIVersion: a.d.apiVersion}
	l.set.Automations = append(l.set.Automations, &Automation{ImageUpdateAutomation: auto, Source: src2, ArgoCD: out})
	for i := range repos {
		l.set.Repositories = append(l.set.Repositories, repos[i])
		l.set.Policies = append(l.set.Policies, pols[i])
	}
}

// argoAppLabel labels the policies converted for an Application, which its
// automation selects.
const argoAppLabel = "argocd.argoproj.io/application"

// sub returns a document that places every field at p: the document of an
// object converted from part of another.
func (d *document) sub(p position) *document {
	return &document{l: d.l, file: d.file, start: p, apiVersion: d.apiVersion, kind: d.kind, pos: map[string]position{}}
}

// argoImagePolicy converts one image into an ImageRepository and an
// ImagePolicy named APP-ALIAS in the Application's namespace.
func (l *loader) argoImagePolicy(a *argoApp, im argoImage, sd *document) (*Repository, *Policy, ArgoCDImage, bool) {
	app := a.app
	ok := true
	bad := func(field string, err error) {
		sd.fail(field, err)
		ok = false
	}
	name := argoObjectName(app.Name, im.alias, im.image)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		bad(im.field, fmt.Errorf("the name %q made of the Application's name and the alias: %s", name, strings.Join(msgs, "; ")))
	}
	if err := checkImage(im.image); err != nil {
		bad(im.field, err)
	}
	rule, err := parseArgoStrategy(im.strategy.value)
	if err != nil {
		bad(im.strategy.field, err)
	}
	allow, err := parseAllowTags(im.allowTags.value)
	if err != nil {
		bad(im.allowTags.field, err)
	}
	exclude := []string{}
	exclude = append(exclude, policy.DefaultExclusionList...)
	for _, g := range splitList(im.ignoreTags.value) {
		re, err := globToRegexp(g)
		if err != nil {
			bad(im.ignoreTags.field, err)
			continue
		}
		exclude = append(exclude, re)
	}
	force := false
	if v := im.force.value; v != "" {
		b, isBool := parseBool(v)
		if !isBool {
			bad(im.force.field, fmt.Errorf("force-update %q: want true or false", v))
		}
		force = b
	}
	repo := &v1alpha1.ImageRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImageRepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace},
	}
	repo.Spec.Image = im.image
	repo.Spec.Interval.Duration = DefaultInterval
	repo.Spec.Timeout = &metav1.Duration{Duration: DefaultTimeout}
	repo.Spec.Provider = DefaultProvider
	pullSecret := im.pullSecret.value
	if c := l.argoConfig; c != nil {
		// registries.conf: the registry's credentials unless the image
		// has a pull secret of its own, and its TLS.
		if reg := c.registryFor(im.image); reg != nil {
			if pullSecret == "" {
				pullSecret = reg.Credentials
			}
			repo.Spec.Insecure = repo.Spec.Insecure || reg.Insecure
		}
	}
	if v := pullSecret; v != "" {
		ps, err := parseArgoPullSecret(v)
		switch {
		case err != nil:
			bad(im.pullSecret.field, err)
		case l.repository && (ps.kind == "ext" || ps.kind == "env" || ps.kind == "secret"):
			// A repository's document must not choose a program of this
			// host to run, a variable of its environment, or a secret's
			// field (a user and password bound to no registry host), whose
			// value goes to a registry the same document names. A
			// pullsecret: is a Docker config, whose credentials go only
			// to the hosts it names.
			bad(im.pullSecret.field, fmt.Errorf("pull secret %q: %s: credentials are not accepted from an automation's Git repository; set them in hoist's configuration", v, ps.kind))
		case ps.kind == "pullsecret":
			repo.Spec.SecretRef = &v1alpha1.LocalObjectReference{Name: ps.name}
		default:
			repo.Annotations = map[string]string{ArgoPullSecretAnnotation: v}
		}
	}
	pol := &v1alpha1.ImagePolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImagePolicyKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: map[string]string{argoAppLabel: app.Name}},
	}
	pol.Spec.ImageRepositoryRef = v1alpha1.NamespacedObjectReference{Name: name, Namespace: app.Namespace}
	pol.Spec.DigestReflectionPolicy = v1alpha1.ReflectNever
	if allow != "" {
		pol.Spec.FilterTags = &v1alpha1.TagFilter{Pattern: allow}
	}
	switch rule {
	case argoSemver:
		r := im.constraint
		if r == "" {
			// An empty constraint is any release; a bare number (a date,
			// a build number) is not a release then (see docs/argocd.md).
			r = "*"
			exclude = append(exclude, `^v?[0-9]+$`)
		}
		pol.Spec.Policy.SemVer = &v1alpha1.SemVerPolicy{Range: r}
	case argoNewestBuild:
		pol.Spec.Policy.NewestBuild = &v1alpha1.NewestBuildPolicy{}
	case argoAlphabetical:
		pol.Spec.Policy.Alphabetical = &v1alpha1.AlphabeticalPolicy{Order: "asc"}
	case argoDigest:
		if im.constraint == "" {
			bad(im.field, fmt.Errorf("the digest strategy follows one tag: name it as IMAGE:TAG"))
		}
		pol.Spec.Policy.Digest = &v1alpha1.DigestPolicy{Tag: im.constraint}
	}
	pol.Spec.Platforms = splitList(im.platforms.value)
	if im.verify != nil {
		pol.Spec.Verify = im.verify.DeepCopy()
	}
	repo.Spec.ExclusionList = exclude
	ai := ArgoCDImage{
		Alias: im.alias, Image: im.image, Policy: app.Namespace + ":" + name,
		HelmName: "image.name", HelmTag: "image.tag", HelmSpec: im.helmSpec.value,
		KustomizeName: im.image, Force: force,
	}
	if im.helmName.value != "" {
		ai.HelmName = im.helmName.value
	}
	if im.helmTag.value != "" {
		ai.HelmTag = im.helmTag.value
	}
	if im.kustomizeName.value != "" {
		ai.KustomizeName = im.kustomizeName.value
	}
	if !ok {
		return nil, nil, ai, false
	}
	pd := sd.sub(sd.at(im.field))
	p := &Policy{ImagePolicy: pol, Source: Source{File: sd.file, Line: pd.start.line, APIVersion: sd.apiVersion}}
	r := &Repository{ImageRepository: repo, Source: p.Source}
	c, err := l.compiler.Compile(PolicySpec(pol, repo, false))
	if err != nil {
		sd.fail(im.field, fmt.Errorf("image %q: %w", im.image, err))
		return nil, nil, ai, false
	}
	p.Compiled = c
	rd := sd.sub(pd.start)
	rd.kind = v1alpha1.ImageRepositoryKind
	pd.kind = v1alpha1.ImagePolicyKind
	if !l.register(rd, &repo.ObjectMeta) || !l.register(pd, &pol.ObjectMeta) {
		return nil, nil, ai, false
	}
	l.docs[pol] = pd
	l.docs[repo] = rd
	return r, p, ai, true
}

// ArgoPullSecretAnnotation carries, on an ImageRepository converted from
// Argo CD Image Updater's settings, a pull secret in a form other than
// pullsecret: (secret:NS/NAME#FIELD, env:VAR or ext:/SCRIPT).
const ArgoPullSecretAnnotation = "hoist.dev/argocd-pull-secret"

// ArgoPullSecret reads the value of ArgoPullSecretAnnotation: for
// secret:NS/NAME#FIELD the secret's name and field, for env:VAR the
// variable, for ext:/SCRIPT the script's absolute path; the value (the
// script's output) holds USER:PASSWORD, as Image Updater reads it.
func ArgoPullSecret(v string) (secret, field, env, script string, err error) {
	ps, err := parseArgoPullSecret(v)
	if err != nil {
		return "", "", "", "", err
	}
	return ps.name, ps.field, ps.env, ps.script, nil
}

// argoObjectName is APP-ALIAS, or APP-IMAGE (the image's last path
// element) for an image without alias, lower case.
func argoObjectName(app, alias, image string) string {
	if alias == "" {
		alias = path.Base(image)
	}
	return strings.ToLower(strings.ReplaceAll(app+"-"+alias, "_", "-"))
}

// argoVerification maps Image Updater's spec.imagesVerification onto
// spec.verify: enabled: true with cosignKey {secretName, key} is a cosign
// public key in that Secret. Fields hoist does not act on (keyless
// verification) are warned about; verification enabled without a key is an
// error, so that no unverified image is written where verified ones were
// asked for.
func argoVerification(d *document, v any) *v1alpha1.ImageVerification {
	const path = "spec.imagesVerification"
	m, ok := v.(map[string]any)
	if !ok {
		d.errorf(path, "want a mapping")
		return nil
	}
	var (
		enabled bool
		key     map[string]any
	)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch val := m[k]; k {
		case "enabled":
			b, isBool := val.(bool)
			if !isBool {
				d.errorf(path+".enabled", "want true or false")
				return nil
			}
			enabled = b
		case "cosignKey":
			if key, ok = val.(map[string]any); !ok {
				d.errorf(path+".cosignKey", "want a mapping {secretName, key}")
				return nil
			}
		default:
			d.warnf(path+"."+k, "not acted on: hoist verifies with a public key (cosignKey) only; %s", KeylessUnavailable)
		}
	}
	if !enabled {
		if key != nil {
			d.warnf(path+".enabled", "verification is off: set enabled: true to verify with cosignKey")
		}
		return nil
	}
	if key == nil {
		d.errorf(path+".cosignKey", "required: %s", KeylessUnavailable)
		return nil
	}
	secret, _ := key["secretName"].(string)
	name, _ := key["key"].(string)
	if secret == "" {
		d.required(path + ".cosignKey.secretName")
		return nil
	}
	if name != "" && !strings.HasSuffix(name, ".pub") {
		d.errorf(path+".cosignKey.key", "%q: hoist reads the keys of the Secret whose names end in .pub (cosign.pub): rename the key", name)
		return nil
	}
	return &v1alpha1.ImageVerification{Provider: v1alpha1.VerificationProviderCosign, SecretRef: &v1alpha1.LocalObjectReference{Name: secret}}
}

// ArgoApplicationsAnnotation, "true" on an ImageUpdateAutomation, reads the
// Argo CD Applications and ImageUpdaters under its update path in its Git
// repository (an app-of-apps repository) at each run, and writes the
// images of those whose source is that same repository and branch in the
// automation's commit (see docs/argocd.md). Without it they are skipped:
// they describe automations of their own.
const ArgoApplicationsAnnotation = "hoist.dev/argocd-applications"

// ReadsArgoApplications reports whether a asks, with
// ArgoApplicationsAnnotation, for the Argo CD documents of its update path.
func (a *Automation) ReadsArgoApplications() bool {
	b, ok := parseBool(a.GetAnnotations()[ArgoApplicationsAnnotation])
	return ok && b
}
