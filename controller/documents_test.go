package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

func repo(name, image string) object {
	o := &v1alpha1.ImageRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImageRepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Generation: 1},
		Spec:       v1alpha1.ImageRepositorySpec{Image: image, Interval: metav1.Duration{Duration: time.Minute}},
	}
	return object{objectKey{o.Kind, o.Namespace, o.Name}, o}
}

func pol(name, repoName, semver string) object {
	o := &v1alpha1.ImagePolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.ImagePolicyKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Generation: 1},
		Spec: v1alpha1.ImagePolicySpec{
			ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: repoName},
			Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: semver}},
		},
	}
	return object{objectKey{o.Kind, o.Namespace, o.Name}, o}
}

// TestBuild checks that each object with a problem is left out with the
// field it names, and the rest is kept.
func TestBuild(t *testing.T) {
	tests := []struct {
		name        string
		objs        []object
		wantPolicy  []string
		wantInvalid map[string]string // object: field
	}{
		{
			name:       "valid",
			objs:       []object{repo("web", "ghcr.io/org/web"), pol("web", "web", ">=1.0.0")},
			wantPolicy: []string{"web"},
		},
		{
			name:        "bad range",
			objs:        []object{repo("web", "ghcr.io/org/web"), pol("web", "web", ">=1.0.0"), pol("broken", "web", ">>")},
			wantPolicy:  []string{"web"},
			wantInvalid: map[string]string{"ImagePolicy apps/broken": "spec.policy.semver.range"},
		},
		{
			name:        "missing repository",
			objs:        []object{repo("web", "ghcr.io/org/web"), pol("web", "web", ">=1.0.0"), pol("orphan", "nope", ">=1.0.0")},
			wantPolicy:  []string{"web"},
			wantInvalid: map[string]string{"ImagePolicy apps/orphan": "spec.imageRepositoryRef.name"},
		},
		{
			name:        "bad repository leaves its policy out too",
			objs:        []object{repo("web", "UPPER CASE"), pol("web", "web", ">=1.0.0")},
			wantInvalid: map[string]string{"ImageRepository apps/web": "spec.image", "ImagePolicy apps/web": "spec.imageRepositoryRef.name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, invalid, err := build(tt.objs)
			if err != nil {
				t.Fatal(err)
			}
			var gotPolicy []string
			for _, p := range set.Policies {
				gotPolicy = append(gotPolicy, p.Name)
			}
			if diff := cmp.Diff(tt.wantPolicy, gotPolicy); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
			gotInvalid := map[string]string{}
			for k, e := range invalid {
				gotInvalid[k.String()] = e.Field
			}
			if tt.wantInvalid == nil {
				tt.wantInvalid = map[string]string{}
			}
			if diff := cmp.Diff(tt.wantInvalid, gotInvalid); diff != "" {
				t.Errorf("invalid objects and fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFingerprint checks that a change of spec, labels or annotations
// changes the fingerprint, and a status write (resourceVersion) does not.
func TestFingerprint(t *testing.T) {
	base := []object{repo("web", "ghcr.io/org/web")}
	fp := fingerprint(base)
	tests := []struct {
		name   string
		change func(*v1alpha1.ImageRepository)
		want   bool
	}{
		{"status write", func(r *v1alpha1.ImageRepository) { r.ResourceVersion = "42"; r.Status.CanonicalImageName = "x" }, false},
		{"spec", func(r *v1alpha1.ImageRepository) { r.Generation = 2 }, true},
		{"labels", func(r *v1alpha1.ImageRepository) { r.Labels = map[string]string{"a": "b"} }, true},
		{"annotations", func(r *v1alpha1.ImageRepository) {
			r.Annotations = map[string]string{"image.hoist.dev/x": "y"}
		}, true},
		{"reconcile request", func(r *v1alpha1.ImageRepository) {
			r.Annotations = map[string]string{RequestedAtAnnotation: "now"}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := repo("web", "ghcr.io/org/web")
			tt.change(o.obj.(*v1alpha1.ImageRepository))
			if got := fingerprint([]object{o}) != fp; got != tt.want {
				t.Errorf("fingerprint changed: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSecretRefsVerify: the Secret of a policy's spec.verify is one the
// controller copies into the secrets directory, where the scanner reads its
// cosign.pub.
func TestSecretRefsVerify(t *testing.T) {
	p := pol("web", "web", ">=1.0.0").obj.(*v1alpha1.ImagePolicy)
	p.Spec.Verify = &v1alpha1.ImageVerification{Provider: "cosign", SecretRef: &v1alpha1.LocalObjectReference{Name: "cosign-key"}}
	unsigned := pol("plain", "web", ">=1.0.0").obj.(*v1alpha1.ImagePolicy)
	set := &config.Set{Policies: []*config.Policy{{ImagePolicy: p}, {ImagePolicy: unsigned}}}
	want := []types.NamespacedName{{Namespace: "apps", Name: "cosign-key"}}
	if diff := cmp.Diff(want, secretRefs(set)); diff != "" {
		t.Errorf("secretRefs (-want +got):\n%s", diff)
	}
}
