package cloudhost_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/registry/cloudhost"
)

func TestParseECR(t *testing.T) {
	tests := map[string]struct {
		want cloudhost.ECR
		ok   bool
	}{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com":          {want: cloudhost.ECR{Account: "123456789012", Region: "us-east-1"}, ok: true},
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com:443":      {want: cloudhost.ECR{Account: "123456789012", Region: "eu-west-1"}, ok: true},
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com": {want: cloudhost.ECR{Account: "123456789012", Region: "us-gov-west-1"}, ok: true},
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":      {want: cloudhost.ECR{Account: "123456789012", Region: "cn-north-1"}, ok: true},
		"123456789012.dkr-ecr.us-east-1.on.aws":                 {want: cloudhost.ECR{Account: "123456789012", Region: "us-east-1"}, ok: true},
		"123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM":          {want: cloudhost.ECR{Account: "123456789012", Region: "us-east-1"}, ok: true},
		"public.ecr.aws":                                        {},
		"12345.dkr.ecr.us-east-1.amazonaws.com":                 {},
		"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com": {},
		"ghcr.io": {},
	}
	for host, tc := range tests {
		t.Run(host, func(t *testing.T) {
			got, ok := cloudhost.ParseECR(host)
			if ok != tc.ok || got != tc.want {
				t.Errorf("ParseECR(%q) = %+v, %t; want %+v, %t", host, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		provider, host string
		ok             bool
	}{
		{"", "ghcr.io", true},
		{"generic", "123456789012.dkr.ecr.us-east-1.amazonaws.com", true},
		{"aws", "123456789012.dkr.ecr.us-east-1.amazonaws.com", true},
		{"aws", "ghcr.io", false},
		{"gcp", "gcr.io", true},
		{"gcp", "eu.gcr.io", true},
		{"gcp", "europe-west1-docker.pkg.dev", true},
		{"gcp", "-docker.pkg.dev", false},
		{"gcp", "notgcr.io", false},
		{"gcp", "myregistry.azurecr.io", false},
		{"azure", "myregistry.azurecr.io", true},
		{"azure", "myregistry.azurecr.cn:443", true},
		{"azure", "a.b.azurecr.io", false},
		{"azure", "azurecr.io", false},
		{"azure", "gcr.io", false},
	}
	var got, want []string
	for _, tc := range tests {
		err := cloudhost.Check(tc.provider, tc.host)
		if (err == nil) != tc.ok {
			got = append(got, tc.provider+" "+tc.host)
		}
		if err != nil && !errors.Is(err, cloudhost.ErrHostMismatch) {
			t.Errorf("Check(%q, %q) = %v, want ErrHostMismatch", tc.provider, tc.host, err)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wrong answers (-want +got):\n%s", diff)
	}
}

// FuzzCheck: any host, any provider, no panic; an accepted ECR host parses.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com", "gcr.io", "x.azurecr.io:5000", "[::1]:5000", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		for _, p := range []string{cloudhost.AWS, cloudhost.GCP, cloudhost.Azure} {
			_ = cloudhost.Check(p, host)
		}
		if cloudhost.Check(cloudhost.AWS, host) == nil {
			if e, ok := cloudhost.ParseECR(host); !ok || len(e.Account) != 12 || e.Region == "" {
				t.Errorf("Check accepts %q for aws, ParseECR = %+v, %t", host, e, ok)
			}
		}
	})
}
