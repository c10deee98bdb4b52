package registry

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLinkHeader(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []link
		wantErr bool
	}{
		"distribution": {
			in:   `</v2/app/tags/list?last=b&n=1000>; rel="next"`,
			want: []link{{Target: "/v2/app/tags/list?last=b&n=1000", Rel: []string{"next"}}},
		},
		"unquoted rel": {
			in:   `<https://r.example/v2/a/tags/list?last=x>;rel=next`,
			want: []link{{Target: "https://r.example/v2/a/tags/list?last=x", Rel: []string{"next"}}},
		},
		"several links and params": {
			in: `<a>; rel="prev"; title="x, y", <b>; rel="next last"`,
			want: []link{
				{Target: "a", Rel: []string{"prev"}},
				{Target: "b", Rel: []string{"next", "last"}},
			},
		},
		"no rel":              {in: `<c>`, want: []link{{Target: "c"}}},
		"empty":               {in: ``, want: nil},
		"escaped quote":       {in: `<d>; title="a\"b"; rel=next`, want: []link{{Target: "d", Rel: []string{"next"}}}},
		"missing bracket":     {in: `/v2/x; rel="next"`, wantErr: true},
		"unterminated":        {in: `</v2/x; rel="next"`, wantErr: true},
		"unterminated quote":  {in: `<x>; rel="next`, wantErr: true},
		"garbage after link":  {in: `<x> junk`, wantErr: true},
		"bare param no value": {in: `<x>; crossorigin; rel=next`, want: []link{{Target: "x", Rel: []string{"next"}}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseLinkHeader(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseLinkHeader(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" && !tc.wantErr {
				t.Errorf("parseLinkHeader(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	tests := map[string]struct {
		in     []string
		want   string
		wantOK bool
	}{
		"next among others":  {in: []string{`<a>; rel="prev"`, `<b>; rel="next"`}, want: "b", wantOK: true},
		"single without rel": {in: []string{`<c>`}, want: "c", wantOK: true},
		"only prev":          {in: []string{`<a>; rel="prev"`}},
		"none":               {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok, err := nextLink(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("nextLink(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseLinkHeader(f *testing.F) {
	for _, s := range []string{`</v2/a/tags/list?last=b&n=1000>; rel="next"`, `<a>; rel="prev", <b>; rel=next`, `<x>; t="a\"b"`, `<`, `<>;;,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		links, err := parseLinkHeader(s)
		if err != nil {
			return
		}
		for _, l := range links {
			if strings.ContainsRune(l.Target, '>') {
				t.Errorf("target %q contains '>'", l.Target)
			}
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		"seconds":           {in: "2", want: 2 * time.Second, wantOK: true},
		"zero":              {in: "0", want: 0, wantOK: true},
		"spaces":            {in: " 7 ", want: 7 * time.Second, wantOK: true},
		"huge capped":       {in: "99999999999999999", want: maxRetryAfter, wantOK: true},
		"overflow":          {in: "999999999999999999999999", wantOK: false},
		"http date":         {in: "Fri, 02 Jan 2026 03:04:35 GMT", want: 30 * time.Second, wantOK: true},
		"http date past":    {in: "Fri, 02 Jan 2026 03:00:00 GMT", want: 0, wantOK: true},
		"rfc850 date":       {in: "Friday, 02-Jan-26 03:05:05 GMT", want: time.Minute, wantOK: true},
		"asctime date":      {in: "Fri Jan  2 03:04:15 2026", want: 10 * time.Second, wantOK: true},
		"negative":          {in: "-1"},
		"fraction":          {in: "1.5"},
		"empty":             {in: ""},
		"garbage":           {in: "soon"},
		"far future date":   {in: "Fri, 02 Jan 2099 03:04:35 GMT", want: maxRetryAfter, wantOK: true},
		"seconds then text": {in: "3 seconds"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"2", "Fri, 02 Jan 2026 03:04:35 GMT", "-1", "", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if ok && (d < 0 || d > maxRetryAfter) {
			t.Errorf("parseRetryAfter(%q) = %v outside [0, %v]", s, d, maxRetryAfter)
		}
		if !ok && d != 0 {
			t.Errorf("parseRetryAfter(%q) = %v with ok=false", s, d)
		}
	})
}

func TestParseRateLimitHeader(t *testing.T) {
	tests := map[string]struct {
		in         string
		wantN      int64
		wantWindow time.Duration
		wantOK     bool
	}{
		"docker hub":      {in: "100;w=21600", wantN: 100, wantWindow: 6 * time.Hour, wantOK: true},
		"spaces":          {in: " 76 ; w=21600 ", wantN: 76, wantWindow: 6 * time.Hour, wantOK: true},
		"no window":       {in: "5", wantN: 5, wantOK: true},
		"other params":    {in: "5;burst=1;w=60", wantN: 5, wantWindow: time.Minute, wantOK: true},
		"zero":            {in: "0;w=60", wantN: 0, wantWindow: time.Minute, wantOK: true},
		"negative":        {in: "-1;w=60"},
		"bad window":      {in: "5;w=x"},
		"negative window": {in: "5;w=-3"},
		"empty":           {in: ""},
		"text":            {in: "many"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, w, ok := parseRateLimitHeader(tc.in)
			if n != tc.wantN || w != tc.wantWindow || ok != tc.wantOK {
				t.Errorf("parseRateLimitHeader(%q) = %d, %v, %v; want %d, %v, %v", tc.in, n, w, ok, tc.wantN, tc.wantWindow, tc.wantOK)
			}
		})
	}
}

func FuzzParseRateLimitHeader(f *testing.F) {
	for _, s := range []string{"100;w=21600", "0", "5;w=", ";;", "1;w=99999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, w, ok := parseRateLimitHeader(s)
		if ok && (n < 0 || w < 0) {
			t.Errorf("parseRateLimitHeader(%q) = %d, %v", s, n, w)
		}
	})
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://user:pw@r.example/v2/a/blobs/sha256:1?X-Amz-Signature=abc&n=5": "https://r.example/v2/a/blobs/sha256:1?X-Amz-Signature=REDACTED&n=5",
		"http://127.0.0.1:5000/v2/a/tags/list?last=b&n=1000":                    "http://127.0.0.1:5000/v2/a/tags/list?last=b&n=1000",
		"https://auth.example/token?scope=repository:a:pull&service=x#frag":     "https://auth.example/token?scope=REDACTED&service=REDACTED",
	}
	for in, want := range tests {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeAuthKey(t *testing.T) {
	tests := map[string]string{
		"https://index.docker.io/v1/":   "index.docker.io",
		"docker.io":                     "index.docker.io",
		"registry-1.docker.io":          "index.docker.io",
		"HTTP://Registry.Example:5000/": "registry.example:5000",
		"https://r.example/v2/":         "r.example",
		"r.example/team/app":            "r.example/team/app",
		"r.example/team/":               "r.example/team",
	}
	for in, want := range tests {
		if got := normalizeAuthKey(in); got != want {
			t.Errorf("normalizeAuthKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDockerConfig(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    *DockerConfig
		wantErr string
	}{
		"auths, helpers, store": {
			in: `{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwOmM="},"r.example":{"username":"a","password":"b"},"t.example":{"identitytoken":"tok"}},
				"credHelpers":{"gcr.io":"gcloud"},"credsStore":"desktop","HttpHeaders":{"X":"y"}}`,
			want: &DockerConfig{
				auths: map[string]dockerAuth{
					"index.docker.io": {Username: "u", Password: "p:c"},
					"r.example":       {Username: "a", Password: "b"},
					"t.example":       {IdentityToken: "tok"},
				},
				credHelpers: map[string]string{"gcr.io": "gcloud"},
				credsStore:  "desktop",
			},
		},
		"empty object":       {in: `{}`, want: &DockerConfig{auths: map[string]dockerAuth{}, credHelpers: map[string]string{}}},
		"auth not base64":    {in: `{"auths":{"r":{"auth":"%%%"}}}`, wantErr: `auths["r"].auth is not base64`},
		"auth without colon": {in: `{"auths":{"r":{"auth":"dXNlcg=="}}}`, wantErr: "not user:password"},
		"helper with a path": {in: `{"credHelpers":{"r":"../../bin/sh"}}`, wantErr: "invalid helper name"},
		"store with a space": {in: `{"credsStore":"a b"}`, wantErr: "invalid credsStore"},
		"not JSON":           {in: `{"auths":{"r":{"password":"hunter2"`, wantErr: "JSON syntax error"},
		"wrong type":         {in: `{"auths":{"r":{"password":42}}}`, wantErr: "must be string"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDockerConfig([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(DockerConfig{})); diff != "" {
				t.Errorf("ParseDockerConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	for _, s := range []string{
		`{"auths":{"r.example":{"auth":"dTpw"}}}`,
		`{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}},"credsStore":"x"}`,
		`{"credHelpers":{"a":"b"}}`, `[]`, `{"auths":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseDockerConfig(data)
		if err != nil {
			return
		}
		for k, h := range c.credHelpers {
			if !validHelperName(h) {
				t.Errorf("helper %q for %q accepted", h, k)
			}
		}
		for k, a := range c.auths {
			if a.Auth != "" {
				t.Errorf("auths[%q].auth kept undecoded", k)
			}
		}
	})
}
