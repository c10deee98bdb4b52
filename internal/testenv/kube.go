package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// KubeVersion is the Kubernetes release whose kube-apiserver the
// controller tests run against; build-kube-apiserver.sh builds it.
const KubeVersion = "v1.37.2"

// KubeAPIServerBinary is where build-kube-apiserver.sh puts kube-apiserver:
// $HOIST_TEST_CACHE/kube-apiserver-VERSION/kube-apiserver, by default under
// $HOME/.cache/hoist-test.
func KubeAPIServerBinary() string {
	return filepath.Join(giteaCacheDir(), "kube-apiserver-"+KubeVersion, "kube-apiserver")
}

// EtcdBinary is the etcd the API server stores its objects in: $ETCD when
// set, else etcd on PATH (Debian's etcd-server package installs
// /usr/bin/etcd).
func EtcdBinary() string {
	if p := os.Getenv("ETCD"); p != "" {
		return p
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return "/usr/bin/etcd"
}

// Kube is a Kubernetes API server on 127.0.0.1 with its etcd, started by
// StartKube.
type Kube struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// KubeConfig is a kubeconfig file of Config.
	KubeConfig string
	// Client is a client of Config with the scheme given to StartKube.
	Client client.Client
}

// StartKube starts etcd and kube-apiserver (controller-runtime's envtest)
// with the CustomResourceDefinitions of the YAML files under crdDirs
// installed, and stops them when the test ends. It skips the test when
// either binary is missing, except when the environment variable CI is
// "true", where it fails the test. Starting takes a few seconds.
func StartKube(t testing.TB, scheme *runtime.Scheme, crdDirs ...string) *Kube {
	t.Helper()
	apiserver, etcd := KubeAPIServerBinary(), EtcdBinary()
	for _, b := range []struct{ path, hint string }{
		{apiserver, "run internal/testenv/build-kube-apiserver.sh"},
		{etcd, "install Debian's etcd-server package"},
	} {
		if _, err := os.Stat(b.path); err != nil {
			msg := fmt.Sprintf("%s not found; %s", b.path, b.hint)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	// envtest logs through controller-runtime's root logger, which warns
	// once a minute until it is set.
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	env.ControlPlane.GetAPIServer().Path = apiserver
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcd}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver %s and etcd %s: %v", apiserver, etcd, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatalf("client of the API server: %v", err)
	}
	return &Kube{Config: cfg, KubeConfig: kubeconfig, Client: c}
}
