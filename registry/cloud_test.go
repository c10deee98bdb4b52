package registry_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// cloudEnv is testenv.CloudEnv, with azidentity's default chain narrowed
// to workload identity (the chain's other credentials would probe the
// Azure CLI and the instance metadata service).
func cloudEnv(t *testing.T) {
	t.Helper()
	testenv.CloudEnv(t)
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "WorkloadIdentityCredential")
}

// cloudRegistry starts a registry behind token auth whose token service
// accepts the pusher's credentials and those accept says were issued.
func cloudRegistry(t *testing.T, accept func(user, password string) bool) *testenv.Registry {
	t.Helper()
	const user, pw = "pusher", "pusher-password"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		Auth: testenv.AuthToken, Username: user, Password: pw,
		Accept: func(u, p string) bool { return (u == user && p == pw) || accept(u, p) },
	})
	reg.PushImage(t, "team/app", "v1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "team/app", "v1.1.0", testenv.ImageOptions{})
	return reg
}

// cloudFake is what a case's fake cloud gives the test.
type cloudFake struct {
	accept func(user, password string) bool // the registry's token service
	hc     *http.Client                     // trusts the fake, when it is HTTPS
	calls  func() int                       // token requests so far
	issued func() []string                  // every secret the fake issued
	fault  *testenv.Fault                   // set on the registry (ACR's exchange)
	apis   string                           // Google's STS and IAM credentials APIs
}

type cloudCase struct {
	name     string
	provider string
	host     string // the cloud registry's host name; the port is the test registry's
	setup    func(t *testing.T, clock *fakeClock) cloudFake
	// lifetime of a token: the clock moves past it to force a refresh.
	lifetime time.Duration
}

func TestCloudProviderLogin(t *testing.T) {
	for _, tc := range []cloudCase{
		{
			name: "aws static keys", provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			lifetime: 12 * time.Hour,
			setup: func(t *testing.T, clock *fakeClock) cloudFake {
				f := testenv.NewFakeAWS(t, clock.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ACCESS_KEY_ID", f.AccessKeyID)
				t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
				return cloudFake{accept: f.Accept, calls: f.ECR.Calls, issued: f.ECR.Issued}
			},
		},
		{
			name: "aws web identity (IRSA)", provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
			lifetime: 12 * time.Hour,
			setup: func(t *testing.T, clock *fakeClock) cloudFake {
				f := testenv.NewFakeAWS(t, clock.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ENDPOINT_URL_STS", f.URL)
				t.Setenv("AWS_ROLE_ARN", f.RoleARN)
				t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile(t, f.WebIdentityToken))
				return cloudFake{accept: f.Accept, calls: f.ECR.Calls, issued: func() []string { return append(f.ECR.Issued(), f.STS.Issued()...) }}
			},
		},
		{
			name: "gcp metadata server", provider: registry.ProviderGCP, host: "europe-west1-docker.pkg.dev",
			lifetime: time.Hour,
			setup: func(t *testing.T, _ *fakeClock) cloudFake {
				f := testenv.NewFakeGCEMetadata(t)
				t.Setenv("GCE_METADATA_HOST", f.Host)
				return cloudFake{accept: f.Accept, calls: f.Tokens.Calls, issued: f.Tokens.Issued}
			},
		},
		{
			name: "azure workload identity", provider: registry.ProviderAzure, host: "hoisttest.azurecr.io",
			lifetime: 3 * time.Hour,
			setup: func(t *testing.T, clock *fakeClock) cloudFake {
				f := testenv.NewFakeEntra(t, clock.Now)
				t.Setenv("AZURE_AUTHORITY_HOST", f.URL)
				t.Setenv("AZURE_TENANT_ID", f.TenantID)
				t.Setenv("AZURE_CLIENT_ID", f.ClientID)
				t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile(t, f.FederatedToken))
				return cloudFake{
					accept: f.Accept, hc: f.Client, calls: f.Tokens.Calls,
					issued: func() []string { return append(f.Tokens.Issued(), f.Refresh.Issued()...) },
					fault:  &testenv.Fault{Method: http.MethodPost, Path: `^/oauth2/exchange$`, Do: f.ACRExchange()},
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cloudEnv(t)
			clock := newFakeClock()
			fake := tc.setup(t, clock)
			reg := cloudRegistry(t, fake.accept)
			if fake.fault != nil {
				reg.Faults.Add(*fake.fault)
			}
			_, port, _ := net.SplitHostPort(reg.Host)
			repo := registry.Repo{Image: tc.host + ":" + port + "/team/app", Insecure: true, Provider: tc.provider}
			var logs bytes.Buffer
			opts := []registry.Option{
				registry.WithTransport(testenv.LoopbackTransport()),
				registry.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
			}
			if fake.hc != nil {
				opts = append(opts, registry.WithCloudHTTPClient(fake.hc))
			}
			c := newClient(t, clock, opts...)

			// identity → token → list of tags
			got, err := c.ListTags(t.Context(), repo)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v1.0.0", "v1.1.0"}, got.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			// cached: no new cloud call
			if _, err := c.ListTags(t.Context(), repo); err != nil {
				t.Fatal(err)
			}
			if n := fake.calls(); n != 1 {
				t.Errorf("cloud token calls after two scans = %d, want 1 (cached)", n)
			}
			// Shortly before expiry the token is replaced, and the new one
			// works.
			clock.Advance(tc.lifetime - time.Minute)
			if _, err := c.ListTags(t.Context(), repo); err != nil {
				t.Fatalf("after refresh: %v", err)
			}
			if n := fake.calls(); n != 2 {
				t.Errorf("cloud token calls after expiry = %d, want 2 (refreshed)", n)
			}
			for _, tok := range fake.issued() {
				if strings.Contains(logs.String(), tok) {
					t.Errorf("log carries a token issued by the cloud:\n%s", logs.String())
				}
			}
			if logs.Len() == 0 {
				t.Error("no debug log at all: the token check proves nothing")
			}
		})
	}
}

func tokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCloudProviderWrongIdentity: a refused identity fails the scan with
// the cloud's own error, and ErrCloudLogin.
func TestCloudProviderWrongIdentity(t *testing.T) {
	tests := map[string]struct {
		provider, host string
		setup          func(t *testing.T) *http.Client
		wantInError    string
	}{
		"aws wrong access key": {
			provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			setup: func(t *testing.T) *http.Client {
				f := testenv.NewFakeAWS(t, time.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
				return nil
			},
			wantInError: "UnrecognizedClientException",
		},
		"aws web identity of another role": {
			provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			setup: func(t *testing.T) *http.Client {
				f := testenv.NewFakeAWS(t, time.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ENDPOINT_URL_STS", f.URL)
				t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/other")
				t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile(t, f.WebIdentityToken))
				return nil
			},
			wantInError: "AccessDenied",
		},
		"gcp unbound workload identity": {
			provider: registry.ProviderGCP, host: "gcr.io",
			setup: func(t *testing.T) *http.Client {
				f := testenv.NewFakeGCEMetadata(t)
				f.Unbound = true
				t.Setenv("GCE_METADATA_HOST", f.Host)
				return nil
			},
			wantInError: "is not annotated with a target Google service account",
		},
		"azure federated token of another subject": {
			provider: registry.ProviderAzure, host: "hoisttest.azurecr.io",
			setup: func(t *testing.T) *http.Client {
				f := testenv.NewFakeEntra(t, time.Now)
				t.Setenv("AZURE_AUTHORITY_HOST", f.URL)
				t.Setenv("AZURE_TENANT_ID", f.TenantID)
				t.Setenv("AZURE_CLIENT_ID", f.ClientID)
				t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile(t, "another-token"))
				return f.Client
			},
			wantInError: "AADSTS700213",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cloudEnv(t)
			hc := tc.setup(t)
			reg := cloudRegistry(t, func(string, string) bool { return false })
			_, port, _ := net.SplitHostPort(reg.Host)
			opts := []registry.Option{registry.WithTransport(testenv.LoopbackTransport()), registry.WithMaxRetries(0)}
			if hc != nil {
				opts = append(opts, registry.WithCloudHTTPClient(hc))
			}
			c := newClient(t, newFakeClock(), opts...)
			_, err := c.ListTags(t.Context(), registry.Repo{Image: tc.host + ":" + port + "/team/app", Insecure: true, Provider: tc.provider})
			if !errors.Is(err, registry.ErrCloudLogin) {
				t.Fatalf("ListTags error = %v, want ErrCloudLogin", err)
			}
			if !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("ListTags error = %v, want the cloud's %q", err, tc.wantInError)
			}
		})
	}
}

func TestCloudProviderHostMismatch(t *testing.T) {
	c := newClient(t, newFakeClock())
	_, err := c.ListTags(t.Context(), registry.Repo{Image: "ghcr.io/team/app", Provider: registry.ProviderAWS})
	if !errors.Is(err, registry.ErrCloudLogin) || !strings.Contains(err.Error(), "is not a aws registry") {
		t.Fatalf("ListTags error = %v, want a provider/host mismatch", err)
	}
}

// TestCloudIdentity logs in as a workload identity other than the
// process's (a Kubernetes ServiceAccount's, whose token the controller
// requests): its token, asked for with the cloud's audience, is exchanged
// for the role or application the ServiceAccount names.
func TestCloudIdentity(t *testing.T) {
	type setup struct {
		fake cloudFake
		id   *registry.CloudIdentity
	}
	tests := map[string]struct {
		provider, host string
		setup          func(t *testing.T, clock *fakeClock, audiences *[]string) setup
		wantInError    string // "" : the scan succeeds
		audience       string // of the identity's token; default the provider's
	}{
		"aws role of the service account": {
			provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			setup: func(t *testing.T, clock *fakeClock, audiences *[]string) setup {
				f := testenv.NewFakeAWS(t, clock.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ENDPOINT_URL_STS", f.URL)
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.STS.Calls},
					id: &registry.CloudIdentity{Name: "apps/puller", AWSRoleARN: f.RoleARN, Token: func(_ context.Context, aud string) (string, error) {
						*audiences = append(*audiences, aud)
						return f.WebIdentityToken, nil
					}},
				}
			},
		},
		"aws role the token may not assume": {
			provider: registry.ProviderAWS, host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
			setup: func(t *testing.T, clock *fakeClock, _ *[]string) setup {
				f := testenv.NewFakeAWS(t, clock.Now)
				t.Setenv("AWS_ENDPOINT_URL_ECR", f.URL)
				t.Setenv("AWS_ENDPOINT_URL_STS", f.URL)
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.STS.Calls},
					id: &registry.CloudIdentity{Name: "apps/puller", AWSRoleARN: "arn:aws:iam::123456789012:role/admin", Token: func(context.Context, string) (string, error) {
						return f.WebIdentityToken, nil
					}},
				}
			},
			wantInError: "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
		},
		"azure application of the service account": {
			provider: registry.ProviderAzure, host: "hoisttest.azurecr.io",
			setup: func(t *testing.T, clock *fakeClock, audiences *[]string) setup {
				f := testenv.NewFakeEntra(t, clock.Now)
				t.Setenv("AZURE_AUTHORITY_HOST", f.URL)
				return setup{
					fake: cloudFake{accept: f.Accept, hc: f.Client, calls: f.Tokens.Calls,
						fault: &testenv.Fault{Method: http.MethodPost, Path: `^/oauth2/exchange$`, Do: f.ACRExchange()}},
					id: &registry.CloudIdentity{Name: "apps/puller", AzureClientID: f.ClientID, AzureTenantID: f.TenantID, Token: func(_ context.Context, aud string) (string, error) {
						*audiences = append(*audiences, aud)
						return f.FederatedToken, nil
					}},
				}
			},
		},
		"gcp on GKE, impersonating the annotated Google service account": {
			provider: registry.ProviderGCP, host: "europe-docker.pkg.dev", audience: "hoist-test.svc.id.goog",
			setup: func(t *testing.T, clock *fakeClock, audiences *[]string) setup {
				md := testenv.NewFakeGCEMetadata(t)
				md.ProjectID, md.ClusterLocation, md.ClusterName = "hoist-test", "europe-west1", "fleet"
				t.Setenv("GCE_METADATA_HOST", md.Host)
				f := testenv.NewFakeGoogleFederation(t, clock.Now)
				f.Audience = "identitynamespace:hoist-test.svc.id.goog:https://container.googleapis.com/v1/projects/hoist-test/locations/europe-west1/clusters/fleet"
				f.Subject = func(tok string) (string, bool) { return "system:serviceaccount:apps:puller", tok == "gke-sa-token" }
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.Impersonated.Calls, apis: f.URL},
					id: &registry.CloudIdentity{Name: "apps/puller", GCPServiceAccount: f.ServiceAccount, Token: func(_ context.Context, aud string) (string, error) {
						*audiences = append(*audiences, aud)
						return "gke-sa-token", nil
					}},
				}
			},
		},
		"gcp through a workload identity provider, without impersonation": {
			provider: registry.ProviderGCP, host: "gcr.io",
			audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet",
			setup: func(t *testing.T, clock *fakeClock, audiences *[]string) setup {
				f := testenv.NewFakeGoogleFederation(t, clock.Now)
				f.Audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet"
				f.Subject = func(tok string) (string, bool) { return "system:serviceaccount:apps:puller", tok == "kind-sa-token" }
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.Federated.Calls, apis: f.URL},
					id: &registry.CloudIdentity{Name: "apps/puller", GCPWorkloadIdentityProvider: "projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet",
						Token: func(_ context.Context, aud string) (string, error) {
							*audiences = append(*audiences, aud)
							return "kind-sa-token", nil
						}},
				}
			},
		},
		"gcp refuses the impersonation of another Google service account": {
			provider: registry.ProviderGCP, host: "gcr.io",
			setup: func(t *testing.T, clock *fakeClock, _ *[]string) setup {
				f := testenv.NewFakeGoogleFederation(t, clock.Now)
				f.Audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet"
				f.Subject = func(string) (string, bool) { return "system:serviceaccount:apps:puller", true }
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.Impersonated.Calls, apis: f.URL},
					id: &registry.CloudIdentity{Name: "apps/puller", GCPServiceAccount: "admin@hoist-test.iam.gserviceaccount.com",
						GCPWorkloadIdentityProvider: "projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet",
						Token:                       func(context.Context, string) (string, error) { return "tok", nil }},
				}
			},
			wantInError: "Permission 'iam.serviceAccounts.getAccessToken' denied",
		},
		"gcp refuses a token its pool does not trust": {
			provider: registry.ProviderGCP, host: "gcr.io",
			setup: func(t *testing.T, clock *fakeClock, _ *[]string) setup {
				f := testenv.NewFakeGoogleFederation(t, clock.Now)
				f.Audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet"
				f.Subject = func(string) (string, bool) { return "", false }
				return setup{
					fake: cloudFake{accept: f.Accept, calls: f.Federated.Calls, apis: f.URL},
					id: &registry.CloudIdentity{Name: "apps/puller", GCPWorkloadIdentityProvider: "projects/123/locations/global/workloadIdentityPools/k8s/providers/fleet",
						Token: func(context.Context, string) (string, error) { return "tok", nil }},
				}
			},
			wantInError: "invalid_grant",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cloudEnv(t)
			clock := newFakeClock()
			var audiences []string
			s := tc.setup(t, clock, &audiences)
			reg := cloudRegistry(t, s.fake.accept)
			if s.fake.fault != nil {
				reg.Faults.Add(*s.fake.fault)
			}
			_, port, _ := net.SplitHostPort(reg.Host)
			opts := []registry.Option{registry.WithTransport(testenv.LoopbackTransport()), registry.WithMaxRetries(0)}
			if s.fake.hc != nil {
				opts = append(opts, registry.WithCloudHTTPClient(s.fake.hc))
			}
			if s.fake.apis != "" {
				opts = append(opts, registry.WithGoogleAPIs(s.fake.apis, s.fake.apis))
			}
			c := newClient(t, clock, opts...)
			repo := registry.Repo{Image: tc.host + ":" + port + "/team/app", Insecure: true, Provider: tc.provider, Identity: s.id}
			got, err := c.ListTags(t.Context(), repo)
			if tc.wantInError != "" {
				if !errors.Is(err, registry.ErrCloudLogin) || !strings.Contains(err.Error(), tc.wantInError) {
					t.Fatalf("ListTags error = %v, want ErrCloudLogin with %q", err, tc.wantInError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"v1.0.0", "v1.1.0"}, got.Tags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			want := tc.audience
			switch tc.provider {
			case registry.ProviderAWS:
				want = registry.AWSIdentityAudience
			case registry.ProviderAzure:
				want = registry.AzureIdentityAudience
			}
			if len(audiences) == 0 || audiences[0] != want {
				t.Errorf("token audiences = %q, want %q", audiences, want)
			}
			if n := s.fake.calls(); n != 1 {
				t.Errorf("identity exchanges = %d, want 1", n)
			}
		})
	}
}
