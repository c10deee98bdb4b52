package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// TestEventsAddr: with an events address, every event is posted there in
// Flux's event format, deduplicated, and the Alerts' Providers get
// nothing, whether or not the set has Alerts.
func TestEventsAddr(t *testing.T) {
	for name, set := range map[string]*config.Set{
		"with alerts": nil, // filled below: an Alert that routes everything
		"no alerts":   {},
		"nil set":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			nc, prov := newServer(t), newServer(t)
			if name == "with alerts" {
				set = setWith(v1beta3.ProviderSpec{Type: "generic", Address: prov.URL}, v1beta3.AlertSpec{})
			}
			n := New("", WithClock(&fakeClock{now: t0}), WithEventsAddr(nc.URL+"/"))
			if !n.Active(set) {
				t.Fatal("not active with an events address")
			}
			out := n.Notify(context.Background(), set, []Event{pushed, failedEv, pushed})
			if diff := cmp.Diff(Outcome{Sent: 2, Deduplicated: 1}, out); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			var got []Event
			for _, h := range nc.got() {
				if h.Path != "/" || h.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request to %s with %v", h.Path, h.Header)
				}
				var e Event
				if err := json.Unmarshal(h.Body, &e); err != nil {
					t.Fatal(err)
				}
				got = append(got, e)
			}
			want := []Event{pushed, failedEv}
			for i := range want {
				want[i].Timestamp, want[i].ReportingController = t0, ReportingController
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events posted (-want +got):\n%s", diff)
			}
			if len(prov.got()) != 0 {
				t.Errorf("the Provider got %d requests with an events address", len(prov.got()))
			}
		})
	}
}

func TestActive(t *testing.T) {
	alerts := setWith(v1beta3.ProviderSpec{Type: "generic", Address: "http://127.0.0.1:1"}, v1beta3.AlertSpec{})
	tests := map[string]struct {
		n    *Notifier
		set  *config.Set
		want bool
	}{
		"nil notifier":  {nil, alerts, false},
		"no alerts":     {New(""), &config.Set{}, false},
		"nil set":       {New(""), nil, false},
		"alerts":        {New(""), alerts, true},
		"events, empty": {New("", WithEventsAddr("http://127.0.0.1:1/")), nil, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.n.Active(tc.set); got != tc.want {
				t.Errorf("Active = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecretReader: a Provider's secret is read through WithSecrets, in
// the Provider's namespace; a failure to read it names the Provider and
// fails that send only.
func TestSecretReader(t *testing.T) {
	srv := newServer(t)
	var asked []string
	secrets := map[string]map[string]string{
		"apps/hook":  {"address": srv.URL + "/apps", "token": "apps-key"},
		"other/hook": {"address": srv.URL + "/other", "token": "other-key"},
	}
	read := func(_ context.Context, ns, name string) (map[string]string, error) {
		asked = append(asked, ns+"/"+name)
		s, ok := secrets[ns+"/"+name]
		if !ok {
			return nil, errors.New("not found")
		}
		return s, nil
	}
	n := New("", WithClock(&fakeClock{now: t0}), WithSecrets(read))
	set := setWith(v1beta3.ProviderSpec{Type: "generic-hmac", SecretRef: &v1alpha1.LocalObjectReference{Name: "hook"}}, v1beta3.AlertSpec{})
	out := n.Notify(context.Background(), set, []Event{pushed})
	if diff := cmp.Diff(Outcome{Sent: 1}, out); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	hits := srv.got()
	if len(hits) != 1 || hits[0].Path != "/apps" {
		t.Fatalf("requests %v", hits)
	}
	mac := hmac.New(sha256.New, []byte("apps-key"))
	mac.Write(hits[0].Body)
	if got := hits[0].Header.Get("X-Signature"); got != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signed with another key: %s", got)
	}
	if diff := cmp.Diff([]string{"apps/hook"}, asked); diff != "" {
		t.Errorf("secrets read (-want +got):\n%s", diff)
	}

	set.Providers[0].Spec.SecretRef.Name = "missing"
	out = n.Notify(context.Background(), set, []Event{failedEv})
	if len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Error(), "provider apps/p") || !strings.Contains(out.Errors[0].Error(), "not found") {
		t.Errorf("errors %v", out.Errors)
	}
}

// ExampleWithEventsAddr posts the events of a run to Flux's
// notification-controller (here a local server standing in for its event
// endpoint), which routes them by its own Alerts.
func ExampleWithEventsAddr() {
	nc := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var e Event
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &e)
		fmt.Println(e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Metadata[MetaRevision])
	}))
	defer nc.Close()

	n := New("", WithEventsAddr(nc.URL+"/"))
	out := n.Notify(context.Background(), nil, []Event{{
		InvolvedObject: ObjectReference{Kind: "ImageUpdateAutomation", Namespace: "apps", Name: "prod"},
		Severity:       v1beta3.SeverityInfo,
		Reason:         ReasonPushed,
		Message:        "pushed 0123456 to main: 1 change",
		Metadata:       map[string]string{MetaRevision: "main@sha1:0123456789abcdef"},
	}})
	fmt.Println("sent:", out.Sent)
	// Output:
	// ImageUpdateAutomation prod Pushed main@sha1:0123456789abcdef
	// sent: 1
}
