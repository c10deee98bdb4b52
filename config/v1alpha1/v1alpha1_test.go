package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

func TestScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "GitRepository", "Receiver"} {
		for _, k := range []string{kind, kind + "List"} {
			gvk := v1alpha1.SchemeGroupVersion.WithKind(k)
			if !s.Recognizes(gvk) {
				t.Errorf("scheme does not recognize %s", gvk)
			}
		}
	}
	if got := v1alpha1.SchemeGroupVersion.String(); got != v1alpha1.APIVersion {
		t.Errorf("SchemeGroupVersion = %q, want %q", got, v1alpha1.APIVersion)
	}
}

// TestFluxFieldNames decodes documents of Flux's APIs as JSON and encodes
// them again: every field must survive, so the names are Flux's.
func TestFluxFieldNames(t *testing.T) {
	tests := map[string]struct {
		obj  any
		json string
	}{
		"ImageRepository":       {&v1alpha1.ImageRepository{}, `{"metadata":{"name":"r"},"spec":{"image":"ghcr.io/a/b","interval":"5m0s","timeout":"1m0s","secretRef":{"name":"s"},"proxySecretRef":{"name":"p"},"serviceAccountName":"sa","certSecretRef":{"name":"c"},"suspend":true,"accessFrom":{"namespaceSelectors":[{"matchLabels":{"a":"b"}}]},"exclusionList":["x"],"provider":"aws","insecure":true},"status":{}}`},
		"ImagePolicy":           {&v1alpha1.ImagePolicy{}, `{"metadata":{"name":"p"},"spec":{"imageRepositoryRef":{"name":"r","namespace":"n"},"policy":{"semver":{"range":"^1"},"alphabetical":{"order":"asc"},"numerical":{"order":"desc"},"newestBuild":{},"digest":{"tag":"latest"}},"filterTags":{"pattern":"^v","extract":"$1","glob":"v*"},"digestReflectionPolicy":"Always","interval":"10m0s","platforms":["linux/amd64"],"minAge":"1h0m0s","suspend":true},"status":{"latestRef":{"name":"a","tag":"1","digest":"sha256:x"}}}`},
		"ImageUpdateAutomation": {&v1alpha1.ImageUpdateAutomation{}, `{"metadata":{"name":"a"},"spec":{"sourceRef":{"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"GitRepository","name":"g","namespace":"n"},"git":{"url":"https://x/y","secretRef":{"name":"s"},"checkout":{"ref":{"branch":"main","tag":"t","semver":"^1","name":"refs/heads/main","commit":"abc"}},"commit":{"author":{"name":"n","email":"e"},"signingKey":{"secretRef":{"name":"k"},"type":"ssh"},"messageTemplate":"m","messageTemplateValues":{"a":"b"}},"push":{"branch":"b","refspec":"r","options":{"o":"v"},"pullRequest":{"title":"t","body":"b","labels":["l"],"autoMerge":true,"provider":"github","apiURL":"https://api"}}},"interval":"5m0s","policySelector":{"matchLabels":{"a":"b"}},"update":{"strategy":"Setters","path":"."},"suspend":true},"status":{}}`},
		"GitRepository":         {&v1alpha1.GitRepository{}, `{"metadata":{"name":"g"},"spec":{"url":"https://x/y","secretRef":{"name":"s"},"provider":"generic","serviceAccountName":"sa","interval":"5m0s","timeout":"1m0s","ref":{"branch":"main"},"verify":{"mode":"HEAD","secretRef":{"name":"k"}},"proxySecretRef":{"name":"p"},"ignore":"/*","suspend":true,"recurseSubmodules":true,"include":[{"repository":{"name":"o"},"fromPath":"a","toPath":"b"}],"sparseCheckout":["d"]},"status":{}}`},
		"Receiver":              {&v1alpha1.Receiver{}, `{"metadata":{"name":"r"},"spec":{"type":"harbor","interval":"10m0s","events":["push"],"resources":[{"apiVersion":"v","kind":"ImageRepository","name":"*","namespace":"n","matchLabels":{"a":"b"}}],"secretRef":{"name":"t"},"suspend":true},"status":{"webhookPath":"/hook/x"}}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.json), tt.obj); err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			var want, have any
			_ = json.Unmarshal([]byte(tt.json), &want)
			_ = json.Unmarshal(got, &have)
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeepCopy(t *testing.T) {
	in := &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}},
		Spec: v1alpha1.ImagePolicySpec{
			Policy:    v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: "^1"}},
			Platforms: []string{"linux/amd64"},
			MinAge:    &metav1.Duration{Duration: time.Hour},
		},
	}
	out := in.DeepCopy()
	if diff := cmp.Diff(in, out); diff != "" {
		t.Fatalf("DeepCopy (-in +out):\n%s", diff)
	}
	out.Spec.Policy.SemVer.Range = "^2"
	out.Spec.Platforms[0] = "linux/arm64"
	out.Labels["a"] = "c"
	if in.Spec.Policy.SemVer.Range != "^1" || in.Spec.Platforms[0] != "linux/amd64" || in.Labels["a"] != "b" {
		t.Errorf("DeepCopy shares memory with the original: %+v", in)
	}
}

func ExampleAddToScheme() {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		fmt.Println(err)
		return
	}
	obj, err := s.New(v1alpha1.SchemeGroupVersion.WithKind(v1alpha1.ImagePolicyKind))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T\n", obj)
	// Output: *v1alpha1.ImagePolicy
}

func ExampleImageRef_String() {
	ref := v1alpha1.ImageRef{Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0", Digest: "sha256:0123"}
	fmt.Println(ref.String())
	// Output: ghcr.io/stefanprodan/podinfo:6.5.0@sha256:0123
}
