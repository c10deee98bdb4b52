package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

// Load reads the documents of the named files and directories: a directory
// is walked recursively for *.yaml and *.yml files (skipping directories
// whose names start with a dot), a file is read whatever its name. A file
// reached twice is read once. Documents that are not of our kinds are
// skipped. In a directory, what cannot be a document is skipped too:
// sockets, pipes and devices, and files that vanish while they are read; a
// symbolic link to nothing, or to something other than a file, is skipped
// with a warning.
//
// When any document is invalid, Load returns a nil Set and Errors, every
// problem of every file. A path given that cannot be read, a directory under
// it that cannot be listed and a YAML file that cannot be read are returned
// as that error (errors.Is(err, fs.ErrNotExist) works), without the others.
func Load(paths ...string) (*Set, error) {
	return LoadOnto(nil, paths...)
}

// Parse reads the documents of one file's contents; filename is used in
// errors and Source. See Load.
func Parse(filename string, data []byte) (*Set, error) {
	l := newLoader()
	l.parseFile(filename, data)
	return l.finish()
}

// yamlFiles lists the files to read under root: root itself when it is not
// a directory, else the *.yaml and *.yml files below it. In a directory,
// what is not a document is skipped: directories whose names start with a
// dot, entries that vanish while it is walked (another program's temporary
// files), and sockets, pipes and devices, whatever their names.
func yamlFiles(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !info.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // gone since its directory was listed
			}
			return err
		}
		if e.IsDir() {
			if path != root && hiddenDir(e.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !yamlName(path) {
			return nil
		}
		if t := e.Type(); t.IsRegular() || t&fs.ModeSymlink != 0 {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return files, nil
}

// readDocumentFile reads a file that yamlFiles listed. When it was found in
// a directory (listed is true), a file that is gone, a link to nothing and
// a link to something other than a regular file are skipped: skip is true,
// with a warning for a link.
func readDocumentFile(path string, listed bool) (data []byte, warn *Warning, skip bool, err error) {
	if listed {
		info, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if li, lerr := os.Lstat(path); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
				return nil, &Warning{File: path, Message: "skipped: a symbolic link to nothing"}, true, nil
			}
			return nil, nil, true, nil // gone since it was listed
		case err != nil:
			return nil, nil, false, fmt.Errorf("reading config: %w", err)
		case !info.Mode().IsRegular():
			return nil, &Warning{File: path, Message: "skipped: a symbolic link to something other than a file"}, true, nil
		}
	}
	data, err = os.ReadFile(path)
	if listed && errors.Is(err, fs.ErrNotExist) {
		return nil, nil, true, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading config: %w", err)
	}
	return data, nil, false, nil
}

// loader collects the objects, errors and warnings of the files of one Load.
type loader struct {
	set   *Set
	errs  Errors
	warns []Warning
	files map[string]int // file -> order read, to sort errors
	// docs remembers the document of each object, for errors found when
	// resolving references.
	docs map[any]*document
	// ids maps kind/namespace/name to the first document defining it.
	ids map[string]*document
	// kinds, for a file, limits the kinds read from it; other documents are
	// skipped. A file not in kinds is read whole.
	kinds map[string]map[string]bool
	// compiledFor holds, for each policy seeded from a base Set, the
	// ImageRepository its Compiled rule was compiled with: resolve keeps
	// the rule when the policy names the same one, so that loading a Git
	// repository's documents onto 10,000 policies compiles none of them
	// again.
	compiledFor map[*Policy]*v1alpha1.ImageRepository
	// compiler shares compiled patterns between the policies.
	compiler policy.Compiler
	// argoApps and argoUpdaters are Argo CD's documents read, converted
	// once every file is (see convertArgo).
	argoApps     []*argoApp
	argoUpdaters []*argoUpdater
	argoConfig   *argoConfigMap
	// skipArgo skips Argo CD's documents: those of a repository's update
	// path describe other automations, not policies of this one.
	skipArgo bool
	// argoAPI accepts the argocd write-back method (LoadOptions.ArgoCDAPI).
	argoAPI bool
	// repository skips Provider and Alert documents with a warning
	// (LoadOptions.Repository).
	repository bool
}

func newLoader() *loader {
	return &loader{
		set:   &Set{},
		files: map[string]int{},
		docs:  map[any]*document{},
		ids:   map[string]*document{},
		kinds: map[string]map[string]bool{},
	}
}

type chunk struct {
	data []byte
	line int // line of the chunk's first line in the file, 1-based
}

// splitDocuments cuts a file at its document markers (--- at the start of a
// line), so that a syntax error in one document does not hide the others.
func splitDocuments(data []byte) []chunk {
	var chunks []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		l := data[i:next]
		if i > start && bytes.HasPrefix(l, []byte("---")) && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r') {
			chunks = append(chunks, chunk{data: data[start:i], line: startLine})
			start, startLine = i, line
		}
		i = next
		line++
	}
	return append(chunks, chunk{data: data[start:], line: startLine})
}

var (
	yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

func (l *loader) parseFile(file string, data []byte) {
	if _, ok := l.files[file]; !ok {
		l.files[file] = len(l.files)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for _, c := range splitDocuments(data) {
		dec := yaml.NewDecoder(bytes.NewReader(c.data))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				l.syntaxError(file, c, err)
				break
			}
			l.parseDocument(file, c.line-1, &n)
		}
	}
}

// syntaxError records a YAML syntax error of the chunk c at the line a
// person would point at. The parser's own "line N" is not that line: it
// names the start of the construct being read (a plain scalar, a flow
// mapping) rather than the offending line, and counts from 0 for some
// errors and from 1 for others. So the line is found by parsing: it is the
// first line, from the start of that construct on, whose prefix of the
// chunk fails with the same problem (the tab, the unclosed bracket, the
// stray key). Only when no prefix reproduces the problem is the parser's
// number used.
func (l *loader) syntaxError(file string, c chunk, err error) {
	problem := err.Error()
	reported := 0
	if m := yamlLineError.FindStringSubmatch(problem); m != nil {
		reported, _ = strconv.Atoi(m[1])
		problem = m[2]
	} else {
		problem = strings.TrimPrefix(problem, "yaml: ")
	}
	e := &Error{File: file, Err: fmt.Errorf("parsing YAML: %s", problem)}
	from := max(reported-1, 1)
	if m := unknownAnchor.FindStringSubmatch(problem); m != nil {
		// The parser names no line: start at the first use of the alias.
		if i := bytes.Index(c.data, []byte("*"+m[1])); i >= 0 {
			from = bytes.Count(c.data[:i], []byte("\n")) + 1
		}
	}
	if n := firstFailingLine(c.data, from, problem); n > 0 {
		e.Line = c.line + n - 1
	} else {
		e.Line = c.line + max(reported, 1) - 1
	}
	l.errs = append(l.errs, e)
}

// maxPrefixes and maxPrefixBytes bound the search of firstFailingLine,
// which parses a prefix of the chunk once per line tried: a large document
// with an error far from where the parser's construct began costs at most
// this much, then the parser's own line is used.
const (
	maxPrefixes    = 1000
	maxPrefixBytes = 16 << 20
)

// firstFailingLine returns the first 1-based line n, from line from on,
// such that the first n lines of data fail to parse with problem, or 0.
func firstFailingLine(data []byte, from int, problem string) int {
	n, parsed := 0, 0
	for i := 0; i < len(data) && n < from+maxPrefixes && parsed < maxPrefixBytes; {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		n++
		if n >= from {
			if parseProblem(data[:next]) == problem {
				return n
			}
			parsed += next
		}
		i = next
	}
	return 0
}

// parseProblem returns the problem of the first syntax error in data,
// without the parser's line, or "".
func parseProblem(data []byte) string {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
				return m[2]
			}
			return strings.TrimPrefix(err.Error(), "yaml: ")
		}
	}
}

func (l *loader) parseDocument(file string, base int, n *yaml.Node) {
	if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return
	}
	root := resolve(n.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return
	}
	d := &document{
		l:      l,
		file:   file,
		base:   base,
		pos:    map[string]position{},
		failed: map[string]bool{},
		budget: nodeBudget,
	}
	d.start = d.position(root)
	var apiVersion, kind string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "apiVersion":
			apiVersion = v.Value
			d.pos["apiVersion"] = d.position(k)
		case "kind":
			kind = v.Value
			d.pos["kind"] = d.position(k)
		}
	}
	if apiVersion == "v1" && kind == "ConfigMap" && l.kinds[file] == nil && !l.skipArgo {
		d.apiVersion, d.kind = apiVersion, kind
		l.parseArgoConfigMap(d, root)
		return
	}
	ours, flux, field, err := classify(apiVersion, kind)
	if err != nil {
		d.fail(field, err)
		return
	}
	if !ours || (l.kinds[file] != nil && !l.kinds[file][kind]) {
		return
	}
	d.apiVersion, d.kind, d.flux = apiVersion, kind, flux
	if l.repository && (kind == v1beta3.ProviderKind || kind == v1beta3.AlertKind) {
		d.warnf("kind", "%s %s not read: notifications come from the configuration (or the cluster), never from an automation's Git repository, whose content could choose where hoist sends and with which secret", kind, objectName(root))
		return
	}
	switch kind {
	case v1alpha1.ImageRepositoryKind:
		o := &v1alpha1.ImageRepository{}
		if d.decode(root, o) {
			d.imageRepository(o)
			if l.register(d, &o.ObjectMeta) {
				l.set.Repositories = append(l.set.Repositories, &Repository{ImageRepository: o, Source: d.source()})
			}
		}
	case v1alpha1.ImagePolicyKind:
		o := &v1alpha1.ImagePolicy{}
		if d.decode(root, o) {
			d.imagePolicy(o)
			if l.register(d, &o.ObjectMeta) {
				l.docs[o] = d
				l.set.Policies = append(l.set.Policies, &Policy{ImagePolicy: o, Source: d.source()})
			}
		}
	case v1alpha1.ImageUpdateAutomationKind:
		o := &v1alpha1.ImageUpdateAutomation{}
		if d.decode(root, o) {
			d.automation(o)
			if l.register(d, &o.ObjectMeta) {
				l.docs[o] = d
				l.set.Automations = append(l.set.Automations, &Automation{ImageUpdateAutomation: o, Source: d.source()})
			}
		}
	case v1alpha1.GitRepositoryKind:
		o := &v1alpha1.GitRepository{}
		if d.decode(root, o) {
			d.gitRepository(o)
			if l.register(d, &o.ObjectMeta) {
				l.set.GitRepositories = append(l.set.GitRepositories, &GitRepository{GitRepository: o, Source: d.source()})
			}
		}
	case ApplicationKind, ImageUpdaterKind:
		if !l.skipArgo {
			l.parseArgo(d, root)
		}
	case v1beta3.ProviderKind:
		o := &v1beta3.Provider{}
		if d.decode(root, o) && d.provider(o) {
			if l.register(d, &o.ObjectMeta) {
				l.docs[o] = d
				l.set.Providers = append(l.set.Providers, &Provider{Provider: o, Source: d.source()})
			}
		}
	case v1beta3.AlertKind:
		o := &v1beta3.Alert{}
		if d.decode(root, o) && d.alert(o) {
			if l.register(d, &o.ObjectMeta) {
				l.docs[o] = d
				l.set.Alerts = append(l.set.Alerts, &Alert{Alert: o, Source: d.source()})
			}
		}
	case v1alpha1.ReceiverKind:
		o := &v1alpha1.Receiver{}
		if d.decode(root, o) && d.receiver(o) {
			if l.register(d, &o.ObjectMeta) {
				l.docs[o] = d
				l.set.Receivers = append(l.set.Receivers, &Receiver{Receiver: o, Source: d.source()})
			}
		}
	}
}

// register reports a second object of the same kind, namespace and name.
func (l *loader) register(d *document, m *metav1.ObjectMeta) bool {
	if m.Name == "" {
		return true // reported by validation; nothing to collide with
	}
	id := d.kind + " " + m.Namespace + "/" + m.Name
	if first, dup := l.ids[id]; dup {
		d.errorf("metadata.name", "%s %s/%s is also defined at %s:%d", d.kind, m.Namespace, m.Name, first.file, first.start.line)
		return false
	}
	l.ids[id] = d
	return true
}

// finish resolves references between objects and returns the Set, or every
// error found.
func (l *loader) finish() (*Set, error) {
	l.convertArgo()
	l.resolve()
	l.sortByPosition()
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	l.set.Warnings = l.warns
	l.set.buildIndex()
	return l.set, nil
}

// note adds a warning about a file as a whole.
func (l *loader) note(w Warning) {
	if _, ok := l.files[w.File]; !ok {
		l.files[w.File] = len(l.files)
	}
	l.warns = append(l.warns, w)
}

func (l *loader) sortByPosition() {
	sort.SliceStable(l.errs, func(i, j int) bool {
		a, b := l.errs[i], l.errs[j]
		if fa, fb := l.files[a.File], l.files[b.File]; fa != fb {
			return fa < fb
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	sort.SliceStable(l.warns, func(i, j int) bool {
		a, b := l.warns[i], l.warns[j]
		if fa, fb := l.files[a.File], l.files[b.File]; fa != fb {
			return fa < fb
		}
		return a.Line < b.Line
	})
}

// LoadOnto loads paths as Load does, together with the objects of base, an
// already valid Set: references resolve across both, and an object of paths
// that redefines one of base is an error. base is not modified. The service
// uses it to read a Git repository's own documents next to the last good
// configuration, even while the configuration files on disk are broken.
func LoadOnto(base *Set, paths ...string) (*Set, error) {
	l := newLoader()
	if base != nil {
		l.seed(base)
	}
	seen := map[string]bool{}
	for _, root := range paths {
		files, err := yamlFiles(root)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			key := f
			if abs, err := filepath.Abs(f); err == nil {
				key = abs
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			data, warn, skip, err := readDocumentFile(f, f != root)
			if err != nil {
				return nil, err
			}
			if warn != nil {
				l.note(*warn)
			}
			if skip {
				continue
			}
			l.parseFile(f, data)
		}
	}
	return l.finish()
}

// seed adds copies of base's objects, each with a document that places it
// where it was read, so that errors found when resolving name that place.
func (l *loader) seed(base *Set) {
	doc := func(kind string, src Source, m *metav1.ObjectMeta) *document {
		d := &document{l: l, file: src.File, start: position{line: src.Line}, apiVersion: src.APIVersion, kind: kind, flux: src.Flux}
		if _, ok := l.files[src.File]; !ok {
			l.files[src.File] = len(l.files)
		}
		l.ids[kind+" "+m.Namespace+"/"+m.Name] = d
		return d
	}
	for _, o := range base.Repositories {
		c := *o
		l.docs[c.ImageRepository] = doc(v1alpha1.ImageRepositoryKind, c.Source, &c.ObjectMeta)
		l.set.Repositories = append(l.set.Repositories, &c)
	}
	for _, o := range base.GitRepositories {
		c := *o
		l.docs[c.GitRepository] = doc(v1alpha1.GitRepositoryKind, c.Source, &c.ObjectMeta)
		l.set.GitRepositories = append(l.set.GitRepositories, &c)
	}
	l.compiledFor = make(map[*Policy]*v1alpha1.ImageRepository, len(base.Policies))
	for _, o := range base.Policies {
		c := *o
		if o.Repository != nil {
			l.compiledFor[&c] = o.Repository.ImageRepository
		} else {
			l.compiledFor[&c] = nil
		}
		l.docs[c.ImagePolicy] = doc(v1alpha1.ImagePolicyKind, c.Source, &c.ObjectMeta)
		l.set.Policies = append(l.set.Policies, &c)
	}
	for _, o := range base.Automations {
		c := *o
		l.docs[c.ImageUpdateAutomation] = doc(v1alpha1.ImageUpdateAutomationKind, c.Source, &c.ObjectMeta)
		l.set.Automations = append(l.set.Automations, &c)
	}
	for _, o := range base.Receivers {
		c := *o
		l.docs[c.Receiver] = doc(v1alpha1.ReceiverKind, c.Source, &c.ObjectMeta)
		l.set.Receivers = append(l.set.Receivers, &c)
	}
	for _, o := range base.Providers {
		c := *o
		l.docs[c.Provider] = doc(v1beta3.ProviderKind, c.Source, &c.ObjectMeta)
		l.set.Providers = append(l.set.Providers, &c)
	}
	for _, o := range base.Alerts {
		c := *o
		l.docs[c.Alert] = doc(v1beta3.AlertKind, c.Source, &c.ObjectMeta)
		l.set.Alerts = append(l.set.Alerts, &c)
	}
}

// LoadOntoFS is LoadOnto for the documents under dir in fsys (such as a
// clone opened as an os.Root, whose FS follows no symbolic link out of
// it), except Argo CD's Applications and ImageUpdaters, which describe
// automations of their own (see docs/argocd.md). File names in errors and sources are dir's slash paths. A symbolic
// link that cannot be read through fsys (a dangling one, or one that leads
// out of it) is skipped: it holds no document of the repository.
//
// When the files under dir hold no document of hoist's (the common case:
// manifests only), it returns base itself, unchanged: copying base onto a
// new set costs every object of the configuration, at every automation
// run. The caller must not modify the result then.
func LoadOntoFS(base *Set, fsys fs.FS, dir string) (*Set, error) {
	return LoadOntoFSWith(base, fsys, dir, LoadOptions{})
}

// LoadOptions say what LoadOntoFSWith reads besides hoist's and Flux's
// documents.
type LoadOptions struct {
	// ArgoCD reads Argo CD's documents too: Applications, ImageUpdaters
	// and Image Updater's ConfigMap (see docs/argocd.md).
	ArgoCD bool
	// ArgoCDAPI accepts the argocd write-back method (Image Updater's
	// default): the Application's spec is patched through the Kubernetes
	// API, which the controller does. Without it the method is an error
	// naming the field.
	ArgoCDAPI bool
	// Repository says that the files are a Git repository's (an
	// automation's update path), which is untrusted input: its Provider
	// and Alert documents are not read, each with a warning naming its
	// file and line, so that a repository can never choose where hoist
	// sends notifications or with which secret.
	Repository bool
}

// LoadOntoFSWith is LoadOntoFS, reading what o says.
func LoadOntoFSWith(base *Set, fsys fs.FS, dir string, o LoadOptions) (*Set, error) {
	type file struct {
		path string
		data []byte
	}
	var files []file
	err := fs.WalkDir(fsys, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if p != dir && hiddenDir(e.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !yamlName(p) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			if e.Type()&fs.ModeSymlink != 0 {
				return nil
			}
			return err
		}
		files = append(files, file{p, data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if base != nil {
		// The files alone first: if they hold nothing (and nothing wrong),
		// base is the answer.
		l := newLoader()
		l.skipArgo, l.argoAPI, l.repository = !o.ArgoCD, o.ArgoCDAPI, o.Repository
		for _, f := range files {
			l.parseFile(f.path, f.data)
		}
		if s, err := l.finish(); err == nil && s.empty() {
			return base, nil
		}
	}
	l := newLoader()
	l.skipArgo, l.argoAPI, l.repository = !o.ArgoCD, o.ArgoCDAPI, o.Repository
	if base != nil {
		l.seed(base)
	}
	for _, f := range files {
		l.parseFile(f.path, f.data)
	}
	return l.finish()
}

// LoadWithTreePolicies loads paths as Load does, together with the
// ImageRepository and ImagePolicy documents found in the files of trees
// (each a directory walked as Load walks one, or a file): the policies of
// the manifests hoist update rewrites, kept next to them.
//
// A tree is not configuration: it holds YAML of every kind (Helm
// templates, Kustomize patches, other tools' files). So a file of a tree
// whose documents cannot be used is skipped instead of failing the load: a
// file that does not parse as YAML without a word (unless it names one of
// hoist's or Flux's API groups), a file with an invalid ImageRepository or
// ImagePolicy with a warning that gives the first problem. A file reached
// through paths is read from there only. Errors in the files of paths are
// returned as Load returns them.
func LoadWithTreePolicies(paths []string, trees ...string) (*Set, error) {
	type file struct {
		path string
		data []byte
	}
	seen := map[string]bool{}
	read := func(roots []string, tolerant bool) ([]file, []Warning, error) {
		var files []file
		var warns []Warning
		for _, root := range roots {
			names, err := yamlFiles(root)
			if err != nil {
				return nil, nil, err
			}
			for _, f := range names {
				key := f
				if abs, err := filepath.Abs(f); err == nil {
					key = abs
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				data, warn, skip, err := readDocumentFile(f, f != root)
				if err != nil && tolerant && f != root {
					warns = append(warns, Warning{File: f, Message: "skipped: " + err.Error()})
					continue
				}
				if err != nil {
					return nil, nil, err
				}
				if warn != nil {
					warns = append(warns, *warn)
				}
				if !skip {
					files = append(files, file{path: f, data: data})
				}
			}
		}
		return files, warns, nil
	}
	strict, warns, err := read(paths, false)
	if err != nil {
		return nil, err
	}
	loose, looseWarns, err := read(trees, true)
	if err != nil {
		return nil, err
	}
	warns = append(warns, looseWarns...)
	policyKinds := map[string]bool{v1alpha1.ImageRepositoryKind: true, v1alpha1.ImagePolicyKind: true}
	isLoose := map[string]bool{}
	for _, f := range loose {
		isLoose[f.path] = true
	}
	// Each pass drops the tree files with errors, so that a file that is
	// valid on its own is not refused for a reference into a dropped one.
	skipped := map[string]bool{}
	for {
		l := newLoader()
		for _, f := range strict {
			l.parseFile(f.path, f.data)
		}
		for _, f := range loose {
			if !skipped[f.path] {
				l.kinds[f.path] = policyKinds
				l.parseFile(f.path, f.data)
			}
		}
		for _, w := range warns {
			l.note(w)
		}
		set, err := l.finish()
		var es Errors
		if !errors.As(err, &es) {
			return set, err
		}
		var strictErrs Errors
		first := map[string]*Error{}
		more := map[string]int{}
		for _, e := range es {
			switch {
			case !isLoose[e.File]:
				strictErrs = append(strictErrs, e)
			case first[e.File] == nil:
				first[e.File] = e
			default:
				more[e.File]++
			}
		}
		if len(strictErrs) > 0 {
			return nil, strictErrs
		}
		for _, f := range loose {
			e := first[f.path]
			if e == nil {
				continue
			}
			skipped[f.path] = true
			cause := ErrInvalid.Error()
			if e.Err != nil {
				cause = e.Err.Error()
			}
			if strings.HasPrefix(cause, "parsing YAML: ") && !namesOurGroups(f.data) {
				continue
			}
			if n := more[f.path]; n > 0 {
				cause += fmt.Sprintf(" (and %d more)", n)
			}
			warns = append(warns, Warning{File: e.File, Line: e.Line, Column: e.Column, Field: e.Field,
				Message: "skipped this file's ImageRepository and ImagePolicy documents: " + cause})
		}
	}
}

// objectName is NAMESPACE/NAME of a document's metadata, as written
// (the namespace defaults to DefaultNamespace), or "(unnamed)".
func objectName(root *yaml.Node) string {
	ns, name := DefaultNamespace, ""
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k == nil || v == nil || k.Value != "metadata" || v.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			mk, mv := resolve(v.Content[j]), resolve(v.Content[j+1])
			if mk == nil || mv == nil || mv.Kind != yaml.ScalarNode {
				continue
			}
			switch mk.Value {
			case "name":
				name = mv.Value
			case "namespace":
				if mv.Value != "" {
					ns = mv.Value
				}
			}
		}
	}
	if name == "" {
		return "(unnamed)"
	}
	return ns + "/" + name
}

// namesOurGroups reports whether data mentions an API group whose documents
// are read.
func namesOurGroups(data []byte) bool {
	for _, g := range []string{v1alpha1.GroupName + "/", fluxImageGroup + "/", fluxSourceGroup + "/", fluxNotificationGroup + "/"} {
		if bytes.Contains(data, []byte(g)) {
			return true
		}
	}
	return false
}

// hiddenDir reports whether a directory below the one walked is skipped
// (.git and the like).
func hiddenDir(name string) bool { return strings.HasPrefix(name, ".") }

// yamlName reports whether a file's name (slash or OS path) says YAML.
func yamlName(name string) bool {
	ext := path.Ext(filepath.ToSlash(name))
	return ext == ".yaml" || ext == ".yml"
}
