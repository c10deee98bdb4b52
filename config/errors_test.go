package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestParseInvalid reads each file of testdata/invalid and compares the
// errors, one line each, FILE:LINE: FIELD: CAUSE.
func TestParseInvalid(t *testing.T) {
	tests := map[string][]string{
		"argocd-annotations.yaml": {
			`testdata/invalid/argocd-annotations.yaml:5: metadata.annotations: write-back method argocd (Image Updater's default) patches the Application through Argo CD's API, which only hoist's controller does; hoist run and hoist update write to Git: set the write-back method to git`,
			"testdata/invalid/argocd-annotations.yaml:16: metadata.annotations[\"argocd-image-updater.argoproj.io/web.allow-tags\"]: allow-tags \"regexp:^v(1\": error parsing regexp: missing closing ): `^v(1`",
			`testdata/invalid/argocd-annotations.yaml:17: metadata.annotations["argocd-image-updater.argoproj.io/web.update-strategy"]: update strategy "newest": want semver, newest-build (or latest), alphabetical (or name) or digest`,
			`testdata/invalid/argocd-annotations.yaml:18: metadata.annotations["argocd-image-updater.argoproj.io/web.pull-secret"]: pull secret "ext:creds.sh": want ext:/ABSOLUTE/PATH of the script`,
			`testdata/invalid/argocd-annotations.yaml:19: metadata.annotations["argocd-image-updater.argoproj.io/wbe.ignore-tags"]: alias "wbe" is not in image-list`,
			`testdata/invalid/argocd-annotations.yaml:32: spec.source.targetRevision: "HEAD" is not a branch hoist can check out and push to: set targetRevision to the branch, or the git-branch write-back setting`,
			`testdata/invalid/argocd-annotations.yaml:44: spec.source.chart: chart "web" comes from a Helm repository: there is nothing in Git to write; keep the values in Git (a second source with ref) and write there`,
			`testdata/invalid/argocd-annotations.yaml:53: metadata.annotations["argocd-image-updater.argoproj.io/git-branch"]: branch template "update-{{ .SHA256": template: branch:1: unclosed action`,
		},
		"argocd-imageupdater.yaml": {
			"testdata/invalid/argocd-imageupdater.yaml:11: spec.applicationRefs[0].images[0].commonUpdateSettings.allowTags: allow-tags \"regexp:[\": error parsing regexp: missing closing ]: `[`",
			`testdata/invalid/argocd-imageupdater.yaml:11: spec.applicationRefs[0].images[0].commonUpdateSettings.updateStrategy: update strategy "lastest": want semver, newest-build (or latest), alphabetical (or name) or digest`,
			`testdata/invalid/argocd-imageupdater.yaml:12: spec.imagez: unknown field "imagez"; did you mean "images"?`,
		},
		"argocd-configmap.yaml": {
			`testdata/invalid/argocd-configmap.yaml:6: data["kube.events"]: "maybe": want true or false`,
			`testdata/invalid/argocd-configmap.yaml:7: data["registries.conf"]: registries[0].credentials: pull secret "ext:creds.sh": want ext:/ABSOLUTE/PATH of the script`,
		},
		"notifications.yaml": {
			`testdata/invalid/notifications.yaml:5: spec.type: "slak": want generic, generic-hmac, slack, msteams, discord, github, gitlab or gitea`,
			`testdata/invalid/notifications.yaml:6: spec.address: "ftp://hooks.example.com/x": want an http or https URL`,
			"testdata/invalid/notifications.yaml:11: spec.secretRef: required for type github: its key token authenticates",
			`testdata/invalid/notifications.yaml:13: spec.address: "https://github.com/acme": want the repository's URL, such as https://github.com/OWNER/REPO`,
			`testdata/invalid/notifications.yaml:14: spec.chanel: unknown field "chanel"; did you mean "channel"?`,
			`testdata/invalid/notifications.yaml:20: spec.providerRef.name: no Provider "missing" in namespace "apps"`,
			`testdata/invalid/notifications.yaml:21: spec.eventSeverity: "warning": want info or error`,
			"testdata/invalid/notifications.yaml:24: spec.exclusionList[0]: error parsing regexp: missing closing ): `(`",
			`testdata/invalid/notifications.yaml:26: apiVersion: unsupported apiVersion "notification.toolkit.fluxcd.io/v1" for Alert; want notification.toolkit.fluxcd.io/v1beta3 or notification.toolkit.fluxcd.io/v1beta2`,
			"testdata/invalid/notifications.yaml:36: spec.secretRef: required for type generic-hmac: its key token signs the requests",
			`testdata/invalid/notifications.yaml:51: spec.update.include[0]: glob "../x/*.jsonnet": want a slash path relative to update.path, without ".."`,
			`testdata/invalid/notifications.yaml:51: spec.update.include[1]: glob "a/[b": unexpected end of input`,
			`testdata/invalid/notifications.yaml:61: spec.bogus: unknown field "bogus"`,
		},
		"bad-groupby.yaml": {
			`testdata/invalid/bad-groupby.yaml:9: spec.git.push.branch: required with spec.git.push.pullRequest: the branch the pull request is opened from`,
			`testdata/invalid/bad-groupby.yaml:10: spec.git.push.pullRequest.groupBy: "team": want automation, policy or path`,
			`testdata/invalid/bad-groupby.yaml:21: spec.git.push.refspec: not with spec.git.push.pullRequest.groupBy policy: each group pushes to a branch of its own`,
		},
		"unknown-field.yaml": {
			`testdata/invalid/unknown-field.yaml:5: spec.image: required`,
			`testdata/invalid/unknown-field.yaml:6: spec.imagee: unknown field "imagee"; did you mean "image"?`,
			`testdata/invalid/unknown-field.yaml:7: spec.intervall: unknown field "intervall"; did you mean "interval"?`,
			`testdata/invalid/unknown-field.yaml:8: spec.color: unknown field "color"`,
		},
		"unknown-nested.yaml": {
			`testdata/invalid/unknown-nested.yaml:5: metadata.lables: unknown field "lables"; did you mean "labels"?`,
			`testdata/invalid/unknown-nested.yaml:17: spec.filterTags.patern: unknown field "patern"; did you mean "pattern"?`,
			`testdata/invalid/unknown-nested.yaml:21: spec.policy.semver.strict: unknown field "strict"`,
		},
		"no-rule.yaml": {
			`testdata/invalid/no-rule.yaml:11: spec.policy: one of semver, alphabetical, numerical, newestBuild or digest is required`,
		},
		"two-rules.yaml": {
			`testdata/invalid/two-rules.yaml:11: spec.policy: exactly one rule is allowed, found semver and alphabetical`,
		},
		"bad-semver.yaml": {
			`testdata/invalid/bad-semver.yaml:13: spec.policy.semver.range: parsing range "not a range": improper constraint: "not a range"`,
		},
		"bad-regex.yaml": {
			"testdata/invalid/bad-regex.yaml:12: spec.filterTags.pattern: compiling \"(\": error parsing regexp: missing closing ): `(`",
		},
		"bad-extract.yaml": {
			`testdata/invalid/bad-extract.yaml:13: spec.filterTags.extract: extract "$timestamp": the pattern has no group named "timestamp"`,
			`testdata/invalid/bad-extract.yaml:15: spec.policy.numerical.order: order "up": want asc or desc`,
		},
		"bad-glob.yaml": {
			`testdata/invalid/bad-glob.yaml:12: spec.filterTags.glob: compiling "v[1-": unexpected end of input`,
			`testdata/invalid/bad-glob.yaml:15: spec.platforms[0]: platform "linux": want os/arch or os/arch/variant`,
		},
		"bad-exclusion.yaml": {
			"testdata/invalid/bad-exclusion.yaml:8: spec.exclusionList[1]: compiling \"*.att\": error parsing regexp: missing argument to repetition operator: `*`",
		},
		"bad-image.yaml": {
			`testdata/invalid/bad-image.yaml:5: spec.image: image "ghcr.io/stefanprodan/podinfo:6.5.0" has a tag or digest; want the repository only, such as "ghcr.io/stefanprodan/podinfo"`,
			`testdata/invalid/bad-image.yaml:11: spec.image: image "ghcr.io/stefanprodan/podinfo@sha256:0000000000000000000000000000000000000000000000000000000000000000" has a tag or digest; want the repository only, such as "ghcr.io/stefanprodan/podinfo"`,
			`testdata/invalid/bad-image.yaml:17: spec.image: image "https://ghcr.io/stefanprodan/podinfo": want a repository without a scheme, such as ghcr.io/org/app`,
			"testdata/invalid/bad-image.yaml:23: spec.image: parsing image \"ghcr.io/StefanProdan/podinfo\": repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: StefanProdan/podinfo",
		},
		"missing-repo.yaml": {
			`testdata/invalid/missing-repo.yaml:11: spec.imageRepositoryRef.name: no ImageRepository "podinfo" in namespace "default"`,
			`testdata/invalid/missing-repo.yaml:19: spec.sourceRef.name: no GitRepository "fleet" in namespace "default"`,
		},
		"duplicate.yaml": {
			`testdata/invalid/duplicate.yaml:8: metadata.name: ImageRepository default/podinfo is also defined at testdata/invalid/duplicate.yaml:1`,
		},
		"duplicate-key.yaml": {
			`testdata/invalid/duplicate-key.yaml:7: spec.image: given twice (first at line 5)`,
		},
		"missing-required.yaml": {
			`testdata/invalid/missing-required.yaml:3: metadata.name: required`,
			`testdata/invalid/missing-required.yaml:4: spec.image: required`,
			`testdata/invalid/missing-required.yaml:9: spec.imageRepositoryRef.name: required`,
			`testdata/invalid/missing-required.yaml:15: spec.sourceRef: required: name a GitRepository, or set spec.git.url`,
			`testdata/invalid/missing-required.yaml:15: spec.git.commit.author.email: required`,
			`testdata/invalid/missing-required.yaml:21: spec.url: required`,
			`testdata/invalid/missing-required.yaml:22: spec.secretRef.name: required`,
			`testdata/invalid/missing-required.yaml:27: spec.type: required`,
			`testdata/invalid/missing-required.yaml:27: spec.resources: required: at least one object to rescan`,
			`testdata/invalid/missing-required.yaml:27: spec.secretRef.name: required`,
		},
		"bad-duration.yaml": {
			`testdata/invalid/bad-duration.yaml:6: spec.interval: parsing duration "5 minutes": want a number and a unit, such as 90s, 5m or 1h30m`,
			`testdata/invalid/bad-duration.yaml:7: spec.timeout: duration "-1s" must not be negative`,
			`testdata/invalid/bad-duration.yaml:15: spec.minAge: want a duration, got a list`,
		},
		"receiver-resources.yaml": {
			`testdata/invalid/receiver-resources.yaml:12: spec.resourceFilter: invalid resourceFilter "res.metadata.name ==": <input>:1:21: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`,
			`testdata/invalid/receiver-resources.yaml:18: spec.resources[1].name: no ImageRepository "api" in namespace "apps" in the files read (a request would fail with 500)`,
			`testdata/invalid/receiver-resources.yaml:20: spec.resources[2].name: no ImageRepository "web" in namespace "other" in the files read (a request would fail with 500)`,
			`testdata/invalid/receiver-resources.yaml:22: spec.resources[3].matchLabels: required with name "*"`,
			`testdata/invalid/receiver-resources.yaml:25: spec.resources[4].name: no ImagePolicy "web" in namespace "apps" in the files read (a request would fail with 500)`,
		},
		"receiver-oidc.yaml": {
			`testdata/invalid/receiver-oidc.yaml:11: spec.secretRef: must not be set for type generic-oidc (requests are authenticated by their ID token)`,
			`testdata/invalid/receiver-oidc.yaml:12: spec.oidcProviders: invalid oidcProvider: oidcProviders[0] (issuer "https://token.actions.githubusercontent.com"): at least one validation is required: without one, anyone the issuer signs a token for could trigger the receiver`,
			"testdata/invalid/receiver-oidc.yaml:20: spec.oidcProviders: required for type generic-oidc: at least one provider",
			"testdata/invalid/receiver-oidc.yaml:31: spec.oidcProviders: only for type generic-oidc",
		},
		"provider-host.yaml": {
			`testdata/invalid/provider-host.yaml:6: spec.provider: registry host does not belong to the provider: "ghcr.io" is not a aws registry (want ACCOUNT.dkr.ecr.REGION.amazonaws.com)`,
			`testdata/invalid/provider-host.yaml:13: spec.provider: registry host does not belong to the provider: "123456789012.dkr.ecr.eu-west-1.amazonaws.com" is not a gcp registry (want LOCATION-docker.pkg.dev or [REGION.]gcr.io)`,
			`testdata/invalid/provider-host.yaml:20: spec.provider: registry host does not belong to the provider: "europe-docker.pkg.dev" is not a azure registry (want NAME.azurecr.io)`,
			`testdata/invalid/provider-host.yaml:21: spec.tokenRealmHosts[1]: "https://10.0.0.8/token": want a host or host:port, without scheme or path`,
			`testdata/invalid/provider-host.yaml:26: spec.secretRef: required with spec.provider github: a Secret with githubAppID, githubAppInstallationID and githubAppPrivateKey`,
		},
		"bad-verify.yaml": {
			`testdata/invalid/bad-verify.yaml:15: spec.verify.matchOIDCIdentity: ` + config.KeylessUnavailable,
			`testdata/invalid/bad-verify.yaml:24: spec.verify.secretRef: required: ` + config.KeylessUnavailable,
			`testdata/invalid/bad-verify.yaml:33: spec.verify.provider: "notation": want cosign`,
			`testdata/invalid/bad-verify.yaml:34: spec.verify.secretRef.name: required`,
		},
		"bad-enum.yaml": {
			`testdata/invalid/bad-enum.yaml:6: spec.provider: "docker": want generic, aws, azure or gcp`,
			`testdata/invalid/bad-enum.yaml:14: spec.digestReflectionPolicy: "Sometimes": want Never, IfNotPresent or Always`,
			`testdata/invalid/bad-enum.yaml:20: spec.type: "jenkins": want dockerhub, harbor, quay, github, gitlab, bitbucket, acr, nexus, cdevents, gcr, generic, generic-hmac, generic-oidc or distribution`,
			`testdata/invalid/bad-enum.yaml:21: spec.resources[1].kind: "Deployment": want ImageRepository, ImagePolicy, ImageUpdateAutomation or GitRepository`,
		},
		"syntax.yaml": {
			`testdata/invalid/syntax.yaml:8: parsing YAML: did not find expected ',' or '}'`,
			`testdata/invalid/syntax.yaml:16: parsing YAML: found a tab character that violates indentation`,
			"testdata/invalid/syntax.yaml:21: spec.image: parsing image \"ghcr.io/example/FOUR\": repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: example/FOUR",
		},
		"wrong-shape.yaml": {
			`testdata/invalid/wrong-shape.yaml:5: spec.image: want a string, got a list`,
			`testdata/invalid/wrong-shape.yaml:6: spec.suspend: want true or false, got "maybe"`,
			`testdata/invalid/wrong-shape.yaml:7: spec.exclusionList: want a list, got "^.*\\.sig$"`,
			`testdata/invalid/wrong-shape.yaml:8: spec.secretRef: want a mapping, got "regcred"`,
		},
		"bad-kind.yaml": {
			`testdata/invalid/bad-kind.yaml:2: kind: unknown kind "ImagePolicies" of hoist.dev; want ImageRepository, ImagePolicy, ImageUpdateAutomation, GitRepository, Receiver, Provider or Alert`,
			`testdata/invalid/bad-kind.yaml:5: apiVersion: unsupported apiVersion "hoist.dev/v1" for ImagePolicy; want hoist.dev/v1alpha1`,
			`testdata/invalid/bad-kind.yaml:9: apiVersion: unsupported apiVersion "image.toolkit.fluxcd.io/v1alpha2" for ImageRepository; want image.toolkit.fluxcd.io/v1 or image.toolkit.fluxcd.io/v1beta2`,
			`testdata/invalid/bad-kind.yaml:14: kind: unknown kind "ImageRepositoryz" of image.toolkit.fluxcd.io; want ImageRepository, ImagePolicy or ImageUpdateAutomation`,
		},
		"bad-automation.yaml": {
			`testdata/invalid/bad-automation.yaml:5: spec.url: the URL carries a password; name a secret in secretRef instead`,
			`testdata/invalid/bad-automation.yaml:6: spec.ref.branch: "main..x" is not a valid Git reference name: contains "..", "//" or "@{"`,
			`testdata/invalid/bad-automation.yaml:6: spec.ref.commit: "abc123": want a full commit hash (40 or 64 hex digits)`,
			`testdata/invalid/bad-automation.yaml:12: spec.sourceRef.kind: "OCIRepository": want GitRepository`,
			`testdata/invalid/bad-automation.yaml:14: spec.git.url: set either spec.sourceRef or spec.git.url, not both`,
			`testdata/invalid/bad-automation.yaml:14: spec.git.url: scheme "ftp": want http, https, ssh or file`,
			`testdata/invalid/bad-automation.yaml:16: spec.git.push.branch: required with spec.git.push.pullRequest: the branch the pull request is opened from`,
			`testdata/invalid/bad-automation.yaml:17: spec.git.push.refspec: "+refs/heads/main:refs/heads/main": a refspec must not force-update (+) or delete (:dst)`,
			`testdata/invalid/bad-automation.yaml:18: spec.git.push.pullRequest.provider: "bitbucket": want github, gitlab or gitea`,
			`testdata/invalid/bad-automation.yaml:18: spec.git.push.pullRequest.apiURL: "not a url": want an http or https URL`,
			`testdata/invalid/bad-automation.yaml:19: spec.update.path: "../outside": leaves the repository`,
			`testdata/invalid/bad-automation.yaml:19: spec.update.strategy: "Kustomize": want Setters`,
			`testdata/invalid/bad-automation.yaml:20: spec.policySelector: "Like" is not a valid label selector operator`,
		},
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if _, ok := tests[filepath.Base(file)]; !ok && !strings.HasPrefix(filepath.Base(file), "multi-") {
			t.Errorf("%s has no test case", file)
		}
	}
	for name, want := range tests {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			file := filepath.Join("testdata", "invalid", name)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			set, err := config.Parse(filepath.ToSlash(file), data)
			if set != nil {
				t.Errorf("Parse returned a Set with an error")
			}
			if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
				t.Errorf("Parse(%s) errors (-want +got):\n%s", file, diff)
			}
		})
	}
}

// errorLines checks that err is Errors of *Error wrapping ErrInvalid, and
// returns one line per error.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not config.Errors: %v", err, err)
	}
	var lines []string
	for _, e := range errs {
		if e.File == "" || e.Line < 1 {
			t.Errorf("error without position: %#v", e)
		}
		lines = append(lines, e.Error())
	}
	if got := strings.Join(lines, "\n"); got != err.Error() {
		t.Errorf("Errors.Error() = %q, want the errors' lines", err.Error())
	}
	return lines
}

func TestLoadInvalidFiles(t *testing.T) {
	// Errors of every file are reported together, in file order; a
	// duplicate across files names the first definition.
	_, err := config.Load("testdata/invalid/multi-a.yaml", "testdata/invalid/multi-b.yaml")
	want := []string{
		`testdata/invalid/multi-a.yaml:5: spec.imageRepositoryRef.name: no ImageRepository "podinfo" in namespace "default"`,
		"testdata/invalid/multi-a.yaml:7: spec.filterTags.pattern: compiling \"[\": error parsing regexp: missing closing ]: `[`",
		`testdata/invalid/multi-b.yaml:3: metadata.name: ImagePolicy default/podinfo is also defined at testdata/invalid/multi-a.yaml:1`,
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("Load errors (-want +got):\n%s", diff)
	}
}

func TestErrorAs(t *testing.T) {
	_, err := config.Parse("p.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: p}
spec:
  imageRepositoryRef: {name: r}
  policy: {semver: {range: '>=1'}}
  filterTags: {pattern: '('}
`))
	var e *config.Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) = false", err)
	}
	want := &config.Error{File: "p.yaml", Line: 5, Column: 24, Field: "spec.imageRepositoryRef.name"}
	got := &config.Error{File: e.File, Line: e.Line, Column: e.Column, Field: e.Field}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first error (-want +got):\n%s", diff)
	}
	if !errors.Is(e, config.ErrInvalid) {
		t.Errorf("errors.Is(*Error, ErrInvalid) = false")
	}
}

func TestErrorString(t *testing.T) {
	tests := map[string]struct {
		err  *config.Error
		want string
	}{
		"full":     {&config.Error{File: "a.yaml", Line: 3, Column: 5, Field: "spec.image", Err: errors.New("required")}, "a.yaml:3: spec.image: required"},
		"no field": {&config.Error{File: "a.yaml", Line: 3, Err: errors.New("parsing YAML: oops")}, "a.yaml:3: parsing YAML: oops"},
		"no line":  {&config.Error{File: "a.yaml", Field: "spec", Err: errors.New("bad")}, "a.yaml: spec: bad"},
		"no cause": {&config.Error{File: "a.yaml", Line: 1}, "a.yaml:1: invalid configuration"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := config.Load("testdata/does-not-exist")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing path: got %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, config.ErrInvalid) {
		t.Errorf("Load of a missing path wraps ErrInvalid: %v", err)
	}
}
