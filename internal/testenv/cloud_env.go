package testenv

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"testing"
)

// cloudVariables are the environment variables through which the clouds'
// SDKs find an identity, a region or an endpoint.
var cloudVariables = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
	"AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_STS",
	// The AWS SDK refuses a CA bundle with a plain *http.Client, which
	// registry.WithCloudHTTPClient sets in tests.
	"AWS_CA_BUNDLE",
	"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST", "GCE_METADATA_IP",
	"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	"AZURE_TOKEN_CREDENTIALS",
}

// CloudEnv clears, for the rest of the test, every environment variable
// through which the clouds' SDKs find an identity or an endpoint, and gives
// the test a HOME of its own (no shared AWS or gcloud configuration), so
// that the test sees only what it sets and no SDK probes a real instance
// metadata service. Call it after StartKube, which finds its binaries
// under HOME. Like t.Setenv, it cannot be used in parallel tests.
func CloudEnv(t testing.TB) {
	t.Helper()
	home := t.TempDir()
	for _, k := range cloudVariables {
		t.Setenv(k, "") // restored when the test ends
		_ = os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("CLOUDSDK_CONFIG", filepath.Join(home, "gcloud"))
}

// LoopbackTransport sends every connection to 127.0.0.1 on the port asked
// for, so that a cloud registry's name
// ("123456789012.dkr.ecr.us-east-1.amazonaws.com:PORT") reaches the test
// registry listening on PORT.
func LoopbackTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	var d net.Dialer
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	return t
}

// LoopbackProxy starts an HTTP proxy on 127.0.0.1 that sends every request
// to 127.0.0.1 on the port asked for, and returns its URL: as HTTP_PROXY of
// a hoist process it makes a cloud registry's name reach the test registry
// (Go never proxies requests to localhost and 127.0.0.1, so the fakes and
// the API server are reached directly).
func LoopbackProxy(t testing.TB) string {
	t.Helper()
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		_, port, err := net.SplitHostPort(r.In.URL.Host)
		if err != nil {
			port = "80"
		}
		r.Out.URL.Scheme = "http"
		r.Out.URL.Host = net.JoinHostPort("127.0.0.1", port)
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}
