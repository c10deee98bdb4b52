package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestNotificationKinds: Provider and Alert are read at v1beta3 when it is
// served, else at v1beta2; a kind not served at all is followed at v1beta3
// (its CRD installed later).
func TestNotificationKinds(t *testing.T) {
	gvk := func(v, k string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: NotificationGroup, Version: v, Kind: k}
	}
	tests := map[string]struct {
		served []schema.GroupVersionKind
		want   []schema.GroupVersionKind
	}{
		"v1beta3 and v1beta2": {
			served: []schema.GroupVersionKind{gvk("v1beta2", "Provider"), gvk("v1beta3", "Provider"), gvk("v1beta2", "Alert"), gvk("v1beta3", "Alert")},
			want:   []schema.GroupVersionKind{gvk("v1beta3", "Provider"), gvk("v1beta3", "Alert")},
		},
		"v1beta2 only": {
			served: []schema.GroupVersionKind{gvk("v1beta2", "Provider"), gvk("v1beta2", "Alert")},
			want:   []schema.GroupVersionKind{gvk("v1beta2", "Provider"), gvk("v1beta2", "Alert")},
		},
		"Alert only, v1beta2": {
			served: []schema.GroupVersionKind{gvk("v1beta2", "Alert")},
			want:   []schema.GroupVersionKind{gvk("v1beta3", "Provider"), gvk("v1beta2", "Alert")},
		},
		"v1 only (Receivers)": {
			served: []schema.GroupVersionKind{gvk("v1", "Receiver")},
			want:   []schema.GroupVersionKind{gvk("v1beta3", "Provider"), gvk("v1beta3", "Alert")},
		},
		"none": {
			want: []schema.GroupVersionKind{gvk("v1beta3", "Provider"), gvk("v1beta3", "Alert")},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := apimeta.NewDefaultRESTMapper(nil)
			for _, g := range tc.served {
				m.Add(g, apimeta.RESTScopeNamespace)
			}
			got, err := notificationKinds(m)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedactAddr(t *testing.T) {
	tests := map[string]string{
		"http://notification-controller.flux-system.svc.cluster.local./": "http://notification-controller.flux-system.svc.cluster.local.",
		"https://user:pw@events.example.com:8443/hook/SECRET?token=x":    "https://events.example.com:8443",
		"not a url": "(not a URL)",
	}
	for in, want := range tests {
		if got := redactAddr(in); got != want {
			t.Errorf("redactAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
