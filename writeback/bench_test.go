package writeback

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const (
	benchFiles    = 10000
	benchMarked   = 200
	benchPolicies = 100
	benchDirs     = 100
)

// benchTree writes benchFiles YAML files (about 1 KiB each) in benchDirs
// directories; benchMarked of them carry markers for benchPolicies
// policies (two files each, say staging and production).
func benchTree(b *testing.B) string {
	b.Helper()
	root := b.TempDir()
	for d := range benchDirs {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("app%03d", d)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	every := benchFiles / benchMarked
	for i := range benchFiles {
		var data string
		switch {
		case i%every == 0:
			p := (i / every) % benchPolicies
			data = fmt.Sprintf(benchDeployment, i, fmt.Sprintf(`ghcr.io/example/app%d:1.0.0 # {"$imagepolicy": "apps:p%d"}`, p, p))
		case i%3 == 0:
			data = fmt.Sprintf(benchDeployment, i, fmt.Sprintf("ghcr.io/example/unmanaged%d:1.0.0", i))
		default:
			data = fmt.Sprintf(benchConfigMap, i, i)
		}
		p := filepath.Join(root, fmt.Sprintf("app%03d", i%benchDirs), fmt.Sprintf("res%05d.yaml", i))
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

const benchDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
  namespace: apps
  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/part-of: benchmark
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app
    spec:
      containers:
      - name: app
        image: %s
        ports:
        - containerPort: 8080
          name: http
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
          limits:
            memory: 128Mi
        readinessProbe:
          httpGet:
            path: /readyz
            port: http
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
`

const benchConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: config-%d
  namespace: apps
  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/part-of: benchmark
data:
  LOG_LEVEL: info
  LISTEN: ":8080"
  FEATURE_FLAGS: "a,b,c"
  config.yaml: |
    server:
      port: 8080
      timeout: 30s
    database:
      host: db.apps.svc.cluster.local
      port: 5432
      name: app-%d
    cache:
      enabled: true
      ttl: 5m
    tracing:
      endpoint: http://otel-collector.observability:4317
      sample: 0.1
    limits:
      requests: 1000
      burst: 200
`

// benchSelections selects 1.0.0 for every policy but apps:p0, which gets
// whichever of 1.0.0 and 1.0.1 its files do not hold, so that every run
// changes the files of one policy (benchMarked/benchPolicies files).
func benchSelections(targets []Target) Selections {
	sel := make(Selections, benchPolicies)
	for p := range benchPolicies {
		sel[fmt.Sprintf("apps:p%d", p)] = Selection{Ref: fmt.Sprintf("ghcr.io/example/app%d:1.0.0", p)}
	}
	for _, t := range targets {
		if t.Policy == "apps:p0" && t.Value == "ghcr.io/example/app0:1.0.0" {
			sel["apps:p0"] = Selection{Ref: "ghcr.io/example/app0:1.0.1"}
		}
	}
	return sel
}

// readTree is the read floor: walk the tree and read every YAML file with
// parallel readers, calling fn on each file's bytes.
func readTree(b *testing.B, root string, fn func([]byte)) {
	paths := make(chan string, 256)
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					b.Error(err)
					continue
				}
				fn(data)
			}
		}()
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && filepath.Ext(p) == ".yaml" {
			paths <- p
		}
		return nil
	})
	close(paths)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
}

// reportCPU reports the CPU time (user and system, all threads) per
// iteration since start: on a shared machine it varies less than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func planWrite(b *testing.B, ctx context.Context, root string, res ScanResult) {
	if len(res.Targets) != benchMarked || len(res.Errors) > 0 {
		b.Fatalf("%d targets, errors %v", len(res.Targets), res.Errors)
	}
	cs := Plan(res.Targets, benchSelections(res.Targets))
	if len(cs.Changes) != benchMarked/benchPolicies || len(cs.Errors) > 0 {
		b.Fatalf("%d changes, errors %v", len(cs.Changes), cs.Errors)
	}
	results, err := Write(ctx, root, cs)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkTree measures, on one generated tree of 10,000 files (200 with
// markers) where one policy changes: the read floor, two naive ways (parse
// every file with kyaml's parser in parallel, the fastest a parse-all can
// be; read the package with kyaml's kio reader), a cold run (ScanDir, Plan,
// Write), a warm run with an Index (Refresh, Plan, Write) and a warm run
// that walks the tree to find changed files (Index.Scan, Plan, Write).
func BenchmarkTree(b *testing.B) {
	root := benchTree(b)
	ctx := context.Background()
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			var mu sync.Mutex
			n := 0
			readTree(b, root, func(data []byte) {
				mu.Lock()
				n += len(data)
				mu.Unlock()
			})
		}
	})
	b.Run("naive-parse", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			readTree(b, root, func(data []byte) {
				dec := yaml.NewDecoder(bytes.NewReader(data))
				for {
					var n yaml.Node
					if err := dec.Decode(&n); err != nil {
						break
					}
				}
			})
		}
	})
	// What a tool built on kyaml's pipeline does without screening: read
	// the package with kio (parse every file into RNodes, annotated with
	// their paths).
	b.Run("naive-kio", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			nodes, err := (&kio.LocalPackageReader{PackagePath: root}).Read()
			if err != nil || len(nodes) != benchFiles {
				b.Fatalf("%d nodes, %v", len(nodes), err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			res, err := ScanDir(ctx, root, ScanOptions{})
			if err != nil {
				b.Fatal(err)
			}
			planWrite(b, ctx, root, res)
		}
	})
	b.Run("warm", func(b *testing.B) {
		idx := NewIndex(root, ScanOptions{})
		if _, err := idx.Scan(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			res, err := idx.Refresh(ctx)
			if err != nil {
				b.Fatal(err)
			}
			planWrite(b, ctx, root, res)
		}
	})
	b.Run("warm-full-scan", func(b *testing.B) {
		idx := NewIndex(root, ScanOptions{})
		if _, err := idx.Scan(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		start := cpuTime()
		defer func() { reportCPU(b, start) }()
		for b.Loop() {
			res, err := idx.Scan(ctx)
			if err != nil {
				b.Fatal(err)
			}
			planWrite(b, ctx, root, res)
		}
	})
}

// BenchmarkScanFile measures finding the targets of one marked file.
func BenchmarkScanFile(b *testing.B) {
	data := []byte(fmt.Sprintf(benchDeployment, 1, `ghcr.io/example/app:1.0.0 # {"$imagepolicy": "apps:p"}`))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if ts, _, err := scanFile("f.yaml", data, formatFor("f.yaml", false)); err != nil || len(ts) != 1 {
			b.Fatal(err)
		}
	}
}
