package writeback

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fluxRef is the status.latestRef of a Flux ImagePolicy
// (image.toolkit.fluxcd.io/v1): the image name as the ImageRepository
// spells it, the selected tag and, with digestReflectionPolicy, the digest.
type fluxRef struct{ name, tag, digest string }

// ref is latestRef as Flux's full setter writes it: NAME:TAG, with
// @DIGEST appended when there is one.
func (r fluxRef) ref() string {
	s := r.name
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest
	}
	return s
}

const fluxDigest = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be"

// TestFluxCompatibility checks that where the setters of Flux's
// image-automation-controller would update a file, hoist writes the same
// values: the marker without suffix gets latestRef (NAME:TAG[@DIGEST]),
// :tag the tag, :name the name as supplied, :digest the digest. Flux finds
// the marker in the line comment of a scalar that is a mapping value or a
// sequence item, after trimming the comment's leading #s, when the rest is a
// JSON object of strings. Flux re-serialises the whole file with kyaml, and
// so also re-indents sequences, re-wraps long strings and drops
// document-start markers in places; hoist changes only the value's bytes,
// which the wanted outputs below show for such inputs.
func TestFluxCompatibility(t *testing.T) {
	policies := map[string]fluxRef{
		"automation-ns:policy":             {name: "index.repo.fake/updated", tag: "v1.0.1"},
		"automation-ns:unchanged":          {name: "image", tag: "v1.0.0"},
		"automation-ns:policy-with-digest": {name: "image", tag: "v1.0.0", digest: fluxDigest},
		"apps:hub":                         {name: "stefanprodan/podinfo", tag: "6.5.0"},
		"apps:port":                        {name: "localhost:5000/team/app", tag: "2.0.0"},
	}
	sel := make(Selections)
	for k, r := range policies {
		sel[k] = Selection{Ref: r.ref()}
	}
	tests := map[string]struct{ in, want string }{
		// Flux's testdata/setters/original/marked.yaml.
		"full marker in a CronJob, one policy unchanged": {
			in: `---
apiVersion: batch/v1beta1
kind: CronJob
metadata:
  name: foo
  namespace: bar
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: c
            image: image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}
          - name: d
            image: image:v1.0.0 # {"$imagepolicy": "automation-ns:unchanged"}
`,
			want: `---
apiVersion: batch/v1beta1
kind: CronJob
metadata:
  name: foo
  namespace: bar
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: c
            image: index.repo.fake/updated:v1.0.1 # {"$imagepolicy": "automation-ns:policy"}
          - name: d
            image: image:v1.0.0 # {"$imagepolicy": "automation-ns:unchanged"}
`,
		},
		// Flux's testdata/setters/original/kustomization.yml: name, tag,
		// digest and a full reference with digest; the block scalar of the
		// patch is left alone (Flux re-wrote it before fluxcd/flux2#3284).
		"kustomization with name, tag, digest and digest-reflecting full marker": {
			in: `# This is not intended to be a working kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - unimportant.yaml
images:
  - name: container
    newName: replaced # {"$imagepolicy": "automation-ns:policy:name"}
    newTag: v1 # {"$imagepolicy": "automation-ns:policy:tag"}
    newDigest: sha256:1234567890abcdef # {"$imagepolicy": "automation-ns:policy-with-digest:digest"}
patches:
  - patch: |
      - op: replace
        path: /spec/template/spec/containers/0/volumeMounts
        value:
          - mountPath: /usr/share/wildfly/wildfly/standalone/configuration/appConfigMaps/WF
            name: wf-config
    target:
      kind: Deployment
      image: image # {"$imagepolicy": "automation-ns:policy-with-digest"}
`,
			want: `# This is not intended to be a working kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - unimportant.yaml
images:
  - name: container
    newName: index.repo.fake/updated # {"$imagepolicy": "automation-ns:policy:name"}
    newTag: v1.0.1 # {"$imagepolicy": "automation-ns:policy:tag"}
    newDigest: ` + fluxDigest + ` # {"$imagepolicy": "automation-ns:policy-with-digest:digest"}
patches:
  - patch: |
      - op: replace
        path: /spec/template/spec/containers/0/volumeMounts
        value:
          - mountPath: /usr/share/wildfly/wildfly/standalone/configuration/appConfigMaps/WF
            name: wf-config
    target:
      kind: Deployment
      image: image:v1.0.0@` + fluxDigest + ` # {"$imagepolicy": "automation-ns:policy-with-digest"}
`,
		},
		"comment forms Flux accepts": {
			in: `a: x:1 #{"$imagepolicy":"automation-ns:policy"}
b: x:1 ## {"$imagepolicy": "automation-ns:policy"}
c: x:1 # {"$imagepolicy": "automation-ns:policy", "note": "extra keys are fine"}
d: x:1 # {"$imagepolicy": "automation-ns:policy"}   
`,
			want: `a: index.repo.fake/updated:v1.0.1 #{"$imagepolicy":"automation-ns:policy"}
b: index.repo.fake/updated:v1.0.1 ## {"$imagepolicy": "automation-ns:policy"}
c: index.repo.fake/updated:v1.0.1 # {"$imagepolicy": "automation-ns:policy", "note": "extra keys are fine"}
d: index.repo.fake/updated:v1.0.1 # {"$imagepolicy": "automation-ns:policy"}   
`,
		},
		"comments Flux ignores": {
			in: `a: x:1 # {"$imagepolicy": "automation-ns:policy"} trailing text
b: x:1 # {"$imagepolicy": 1}
c: x:1 # $imagepolicy automation-ns:policy
# {"$imagepolicy": "automation-ns:policy"}
d: x:1
e: # {"$imagepolicy": "automation-ns:policy"}
  x:1
f: # {"$imagepolicy": "automation-ns:policy"}
  g: x:1
`,
			want: `a: x:1 # {"$imagepolicy": "automation-ns:policy"} trailing text
b: x:1 # {"$imagepolicy": 1}
c: x:1 # $imagepolicy automation-ns:policy
# {"$imagepolicy": "automation-ns:policy"}
d: x:1
e: # {"$imagepolicy": "automation-ns:policy"}
  x:1
f: # {"$imagepolicy": "automation-ns:policy"}
  g: x:1
`,
		},
		"sequence items and quoted scalars keep their quotes": {
			in: `images:
- image:v1.0.0 # {"$imagepolicy": "automation-ns:policy"}
- "image:v1.0.0" # {"$imagepolicy": "automation-ns:policy"}
- 'v1' # {"$imagepolicy": "automation-ns:policy:tag"}
`,
			want: `images:
- index.repo.fake/updated:v1.0.1 # {"$imagepolicy": "automation-ns:policy"}
- "index.repo.fake/updated:v1.0.1" # {"$imagepolicy": "automation-ns:policy"}
- 'v1.0.1' # {"$imagepolicy": "automation-ns:policy:tag"}
`,
		},
		"name as supplied, not normalised": {
			in: `hub: podinfo:6.4.0 # {"$imagepolicy": "apps:hub"}
hubName: podinfo # {"$imagepolicy": "apps:hub:name"}
port: localhost:5000/team/app:1.0.0 # {"$imagepolicy": "apps:port"}
portName: x # {"$imagepolicy": "apps:port:name"}
portTag: "1.0.0" # {"$imagepolicy": "apps:port:tag"}
`,
			want: `hub: stefanprodan/podinfo:6.5.0 # {"$imagepolicy": "apps:hub"}
hubName: stefanprodan/podinfo # {"$imagepolicy": "apps:hub:name"}
port: localhost:5000/team/app:2.0.0 # {"$imagepolicy": "apps:port"}
portName: localhost:5000/team/app # {"$imagepolicy": "apps:port:name"}
portTag: "2.0.0" # {"$imagepolicy": "apps:port:tag"}
`,
		},
		// kyaml would re-indent this file and re-flow the long string.
		"formatting Flux would change stays": {
			in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: odd,   namespace: bar}
spec:
  template:
    spec:
      containers:
      -   name: c
          image:    image:v1.0.0     # {"$imagepolicy": "automation-ns:policy"}
          args: ["a very long argument that a re-serialising writer might wrap at eighty columns or more", "--x"]
`,
			want: `apiVersion: apps/v1
kind: Deployment
metadata: {name: odd,   namespace: bar}
spec:
  template:
    spec:
      containers:
      -   name: c
          image:    index.repo.fake/updated:v1.0.1     # {"$imagepolicy": "automation-ns:policy"}
          args: ["a very long argument that a re-serialising writer might wrap at eighty columns or more", "--x"]
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := Scan([]File{{Path: "f.yaml", Data: []byte(tc.in)}})
			if len(res.Errors) > 0 {
				t.Fatalf("scan: %v", res.Errors)
			}
			cs := Plan(res.Targets, sel)
			if len(cs.Errors) > 0 {
				t.Fatalf("plan: %v", cs.Errors)
			}
			got, err := Apply([]byte(tc.in), cs.Changes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFluxSettersFixture runs testdata/flux-setters, the equivalent of the
// setters fixture of Flux's image-automation-controller
// (internal/update/testdata/setters), through scan, plan and write, and
// checks the changes per file against the result Flux reports for it: a
// file named Kustomization is read like kustomization.yml, and a dangling
// link with a YAML name is skipped (with a warning in hoist).
func TestFluxSettersFixture(t *testing.T) {
	type change struct{ Old, New, Setter string }
	got := map[string][]change{}
	for _, c := range runGolden(t, "testdata/flux-setters") {
		got[c.File] = append(got[c.File], change{c.Old, c.New, c.Setter})
	}
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	want := map[string][]change{
		"kustomization.yml": {
			{"old.example/report", "registry.example/report", "automation-ns:policy:name"},
			{"2.0", "2.1.0", "automation-ns:policy:tag"},
			{"sha256:0000000000000000000000000000000000000000000000000000000000000000", digest, "automation-ns:policy-with-digest:digest"},
			{"registry.example/pinned", "registry.example/pinned:1.0.0@" + digest, "automation-ns:policy-with-digest"},
		},
		"Kustomization": {
			{"old.example/report", "registry.example/report", "automation-ns:policy:name"},
			{"2.0", "2.1.0", "automation-ns:policy:tag"},
		},
		"marked.yaml": {
			{"registry.example/report:2.0.0", "registry.example/report:2.1.0", "automation-ns:policy"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}
