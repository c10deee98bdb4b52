package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSelect(t *testing.T) {
	semverSpec := func(r string) Spec { return Spec{Semver: &SemverSpec{Range: r}, Exclude: DefaultExclusionList} }
	tests := map[string]struct {
		spec    Spec
		tags    []string
		want    string
		wantErr error
	}{
		"semver highest in range":      {spec: semverSpec(">=1.0.0 <2.0.0"), tags: []string{"1.0.0", "1.4.2", "2.0.0", "1.10.0", "0.9.0"}, want: "1.10.0"},
		"semver v prefix":              {spec: semverSpec("^6"), tags: []string{"v6.0.0", "v6.2.1", "v7.0.0", "6.1.0"}, want: "v6.2.1"},
		"semver pre-release excluded":  {spec: semverSpec(">=1.0.0"), tags: []string{"1.2.0", "1.3.0-rc.1"}, want: "1.2.0"},
		"semver pre-release named":     {spec: semverSpec(">=1.3.0-0"), tags: []string{"1.2.0", "1.3.0-rc.1", "1.3.0-rc.2"}, want: "1.3.0-rc.2"},
		"semver suffixed tags":         {spec: semverSpec(">=1.0.0-0"), tags: []string{"1.2.3-alpine", "1.2.3-bookworm", "1.2.2"}, want: "1.2.3-bookworm"},
		"semver suffix not candidate":  {spec: semverSpec(">=1.0.0"), tags: []string{"1.2.3-alpine", "1.2.2"}, want: "1.2.2"},
		"semver tie 1.2 vs 1.2.0":      {spec: semverSpec("*"), tags: []string{"1.2.0", "1.2"}, want: "1.2.0"},
		"semver tie v1.2.0 vs 1.2.0":   {spec: semverSpec("*"), tags: []string{"v1.2.0", "1.2.0"}, want: "v1.2.0"},
		"semver tie reversed input":    {spec: semverSpec("*"), tags: []string{"1.2.0", "v1.2.0"}, want: "v1.2.0"},
		"semver two-part candidate":    {spec: semverSpec(">=1.24"), tags: []string{"1.24", "1.25", "1.25.0-rc.1"}, want: "1.25"},
		"semver strict drops two-part": {spec: Spec{Semver: &SemverSpec{Range: ">=1.24", Strict: true}}, tags: []string{"1.24.1", "1.25"}, want: "1.24.1"},
		"semver cosign tags excluded":  {spec: semverSpec("*"), tags: []string{"1.0.0", "sha256-abc.sig", "sha256-abc.att"}, want: "1.0.0"},
		"semver no match":              {spec: semverSpec(">=9"), tags: []string{"1.0.0"}, wantErr: ErrNoMatch},
		"empty list":                   {spec: semverSpec("*"), tags: nil, wantErr: ErrNoMatch},
		"semver extract from pattern":  {spec: Spec{Pattern: `^v(?P<semver>[0-9]+\.[0-9]+\.[0-9]+)-prod$`, Extract: "$semver", Semver: &SemverSpec{Range: ">=1"}}, tags: []string{"v1.2.0-prod", "v1.3.0-dev", "v1.1.0-prod"}, want: "v1.2.0-prod"},
		"calendar tags numerical":      {spec: Spec{Pattern: `^(?P<d>\d{8})$`, Extract: "$d", Numerical: &OrderSpec{}}, tags: []string{"20240115", "20231231", "latest", "20240201"}, want: "20240201"},
		"sha with timestamp":           {spec: Spec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)$`, Extract: "$ts", Numerical: &OrderSpec{Order: Ascending}}, tags: []string{"main-abc123-1700000001", "main-def456-1700000100", "main-aaa000-1699999999", "dev-fff-1800000000"}, want: "main-def456-1700000100"},
		"numerical desc":               {spec: Spec{Numerical: &OrderSpec{Order: Descending}}, tags: []string{"10", "2", "33"}, want: "2"},
		"numerical drops non-numbers":  {spec: Spec{Numerical: &OrderSpec{}}, tags: []string{"10", "abc", "NaN", "Inf", "9.5"}, want: "10"},
		"numerical tie 1 vs 1.0":       {spec: Spec{Numerical: &OrderSpec{}}, tags: []string{"1.0", "1"}, want: "1.0"},
		"alphabetical asc":             {spec: Spec{Alphabetical: &OrderSpec{}}, tags: []string{"b", "c", "a"}, want: "c"},
		"alphabetical desc":            {spec: Spec{Alphabetical: &OrderSpec{Order: Descending}}, tags: []string{"b", "c", "a"}, want: "a"},
		"alphabetical compares bytes":  {spec: Spec{Alphabetical: &OrderSpec{}}, tags: []string{"Z", "a", "B"}, want: "a"},
		"glob filter":                  {spec: Spec{Glob: "6.*", Semver: &SemverSpec{Range: "*"}}, tags: []string{"6.1.0", "7.0.0", "6.2.0"}, want: "6.2.0"},
		"glob and pattern combined":    {spec: Spec{Glob: "*-prod", Pattern: `^1\.`, Alphabetical: &OrderSpec{}}, tags: []string{"1.a-prod", "1.b-dev", "2.c-prod"}, want: "1.a-prod"},
		"exclusion list custom":        {spec: Spec{Exclude: []string{`^latest$`}, Alphabetical: &OrderSpec{}}, tags: []string{"latest", "b"}, want: "b"},
		"digest follows one tag":       {spec: Spec{Digest: &DigestSpec{Tag: "latest"}}, tags: []string{"1.0", "latest"}, want: "latest"},
		"digest tag missing":           {spec: Spec{Digest: &DigestSpec{Tag: "stable"}}, tags: []string{"1.0", "latest"}, wantErr: ErrNoMatch},
		"extract equal values tie":     {spec: Spec{Pattern: `^(?P<v>[0-9.]+)-.*$`, Extract: "$v", Semver: &SemverSpec{Range: "*"}}, tags: []string{"1.0.0-b", "1.0.0-a"}, want: "1.0.0-b"},
	}
	facts := func(tag string, need Need) (Facts, error) {
		return Facts{Digest: "sha256:" + strings.Repeat("a", 64)}, nil
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Compile(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, explain := range []bool{false, true} {
				res, err := p.Select(tc.tags, Options{Facts: facts, Explain: explain})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("explain=%v: err = %v, want %v", explain, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("explain=%v: %v", explain, err)
				}
				if res.Tag != tc.want {
					t.Errorf("explain=%v: selected %q, want %q", explain, res.Tag, tc.want)
				}
				if res.Candidates+res.Dropped != len(tc.tags) {
					t.Errorf("explain=%v: candidates %d + dropped %d != %d tags", explain, res.Candidates, res.Dropped, len(tc.tags))
				}
			}
		})
	}
}

// TestFluxCompatibility lists what Flux's image-reflector-controller selects
// for the same policy and tags, and where hoist differs on purpose.
func TestFluxCompatibility(t *testing.T) {
	tests := map[string]struct {
		spec Spec
		tags []string
		flux string // Flux's answer; "" when Flux fails the policy
		want string // hoist's answer
	}{
		"semver range":                 {Spec{Semver: &SemverSpec{Range: ">=1.0.0", Strict: true}}, []string{"1.0.0", "1.1.0", "0.9.0"}, "1.1.0", "1.1.0"},
		"semver v prefix":              {Spec{Semver: &SemverSpec{Range: "^6", Strict: true}}, []string{"v6.0.1", "6.0.0"}, "v6.0.1", "v6.0.1"},
		"semver two-part ignored":      {Spec{Semver: &SemverSpec{Range: ">=1", Strict: true}}, []string{"1.25", "1.24.3"}, "1.24.3", "1.24.3"},
		"semver leading zero ignored":  {Spec{Semver: &SemverSpec{Range: ">=1", Strict: true}}, []string{"1.02.0", "1.1.0"}, "1.1.0", "1.1.0"},
		"semver pre-release by range":  {Spec{Semver: &SemverSpec{Range: ">=1.0.0-0", Strict: true}}, []string{"1.0.0", "1.1.0-rc.1"}, "1.1.0-rc.1", "1.1.0-rc.1"},
		"semver extract":               {Spec{Pattern: `^v(?P<s>[0-9]+\.[0-9]+\.[0-9]+)-x$`, Extract: "$s", Semver: &SemverSpec{Range: "*", Strict: true}}, []string{"v1.0.0-x", "v1.2.0-x", "v2.0.0-y"}, "v1.2.0-x", "v1.2.0-x"},
		"alphabetical asc":             {Spec{Alphabetical: &OrderSpec{Order: Ascending}}, []string{"RELEASE.2023-01-01", "RELEASE.2024-01-01"}, "RELEASE.2024-01-01", "RELEASE.2024-01-01"},
		"alphabetical desc":            {Spec{Alphabetical: &OrderSpec{Order: Descending}}, []string{"b", "a"}, "a", "a"},
		"numerical asc":                {Spec{Numerical: &OrderSpec{Order: Ascending}}, []string{"1", "10", "9"}, "10", "10"},
		"numerical with extract":       {Spec{Pattern: `^build-(?P<n>\d+)$`, Extract: "$n", Numerical: &OrderSpec{}}, []string{"build-9", "build-10"}, "build-10", "build-10"},
		"numerical non-numeric (diff)": {Spec{Numerical: &OrderSpec{}}, []string{"1", "latest"}, "", "1"},
		"numerical negative integers":  {Spec{Numerical: &OrderSpec{}}, []string{"-62", "-88", "73", "72", "15", "16", "15", "29", "-33", "-91"}, "73", "73"},
		"numerical floats desc":        {Spec{Numerical: &OrderSpec{Order: Descending}}, []string{"-65.27202780220686", "57.82948329142309", "-90.29082099756083", "-12.041712603564264"}, "-90.29082099756083", "-90.29082099756083"},
		"numerical timestamps desc":    {Spec{Numerical: &OrderSpec{Order: Descending}}, []string{"1606234201", "1606364286", "1606334092"}, "1606234201", "1606234201"},
		// Extract expands on the first match only; the rest of the tag is not
		// part of the value.
		"extract first match only": {Spec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts", Numerical: &OrderSpec{}}, []string{"main-abc1234-1700000000-arm64", "main-def5678-1699999999-amd64", "main-0123456-1600000000"}, "main-abc1234-1700000000-arm64", "main-abc1234-1700000000-arm64"},
		"extract unanchored match": {Spec{Pattern: `(\d+)`, Extract: "$1", Numerical: &OrderSpec{}}, []string{"build-9-rc100", "build-10-rc1"}, "build-10-rc1", "build-10-rc1"},
		"extract template":         {Spec{Pattern: `^(?P<maj>\d+)_(?P<min>\d+)`, Extract: "${maj}.${min}", Numerical: &OrderSpec{}}, []string{"1_9-a", "1_10-b", "1_2-c"}, "1_9-a", "1_9-a"},
		// Equal extracted values: Flux keeps the last in input order, hoist
		// the greatest tag (the answer never depends on the input order).
		"extract equal values (diff)": {Spec{Pattern: `^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])`, Extract: "$tag", Alphabetical: &OrderSpec{}}, []string{"123-123.123.abcd456-debug", "123-123.123.abcd456"}, "123-123.123.abcd456", "123-123.123.abcd456-debug"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := MustCompile(tc.spec)
			res, err := p.Select(tc.tags, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tc.want {
				t.Errorf("hoist selected %q, want %q (Flux: %q)", res.Tag, tc.want, tc.flux)
			}
		})
	}

	// Flux's filter table: the values a pattern and extract hand to the
	// rule, distinct and sorted.
	filters := map[string]struct {
		pattern, extract string
		tags             []string
		flux             []string
	}{
		"none":                             {"", "", []string{"a"}, []string{"a"}},
		"valid pattern":                    {"^ver", "", []string{"ver1", "ver2", "ver3", "rel1"}, []string{"ver1", "ver2", "ver3"}},
		"valid pattern with capture group": {`ver(\d+)`, "$1", []string{"ver1", "ver2", "ver3", "rel1"}, []string{"1", "2", "3"}},
		"valid pattern (complex regex 1)": {`^(123-[0-9]+\.[0-9]+\.[a-z0-9]+-debug)`, "", []string{"123-123.123.abcd123-debug", "123-123.123.abcd123", "123-123.123.abcd456-debug", "123-123.123.abcd456"},
			[]string{"123-123.123.abcd123-debug", "123-123.123.abcd456-debug"}},
		"valid pattern with capture group (complex regex 2)": {`^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])`, "$tag", []string{"123-123.123.abcd123-debug", "123-123.123.abcd123", "123-123.123.abcd456-debug", "123-123.123.abcd456"},
			[]string{"123-123.123.abcd123", "123-123.123.abcd456"}},
		"valid pattern with capture group (complex regex 3)": {`^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+$)`, "$tag", []string{"123-123.123.abcd123-debug", "123-123.123.abcd123", "123-123.123.abcd456-debug", "123-123.123.abcd456"},
			[]string{"123-123.123.abcd123", "123-123.123.abcd456"}},
		"first match of a timestamp":     {`^main-[a-f0-9]+-(?P<ts>[0-9]+)`, "$ts", []string{"main-abc1234-1700000000-arm64", "main-abc1234-1700000001", "dev-abc1234-1800000000"}, []string{"1700000000", "1700000001"}},
		"empty extract keeps whole tag":  {`-(\d+)-`, "", []string{"a-1-b", "a1b"}, []string{"a-1-b"}},
		"braced name":                    {`^v(?P<n>\d+)\.`, "${n}", []string{"v1.2", "v10.0-rc"}, []string{"1", "10"}},
		"template with text":             {`^(?P<maj>\d+)_(?P<min>\d+)`, "v${maj}.${min}", []string{"1_22_3", "2_0"}, []string{"v1.22", "v2.0"}},
		"first of two matches":           {`(\d+)`, "$1", []string{"a12b34"}, []string{"12"}},
		"group that did not participate": {`^v(\d+)(-rc)?`, "x$2", []string{"v1", "v2-rc"}, []string{"x", "x-rc"}},
	}
	for name, tc := range filters {
		t.Run("filter/"+name, func(t *testing.T) {
			p := MustCompile(Spec{Pattern: tc.pattern, Extract: tc.extract, Alphabetical: &OrderSpec{}})
			res, err := p.Select(tc.tags, Options{Explain: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.Explain {
				if v.Dropped == "" {
					got = append(got, v.Value)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if diff := cmp.Diff(tc.flux, got); diff != "" {
				t.Errorf("values (-Flux +hoist):\n%s", diff)
			}
		})
	}
}

// TestSelectValue checks Result.Value, the extracted value of the selected
// tag, on the fast path (where an expanded number becomes a string only when
// its tag leads) and the explained one.
func TestSelectValue(t *testing.T) {
	tests := map[string]struct {
		spec      Spec
		tags      []string
		wantTag   string
		wantValue string
	}{
		"one group":        {Spec{Pattern: `^main-[a-f0-9]+-(?P<ts>[0-9]+)`, Extract: "$ts", Numerical: &OrderSpec{}}, []string{"main-a-17-arm64", "main-b-9"}, "main-a-17-arm64", "17"},
		"template numeric": {Spec{Pattern: `^(?P<maj>\d+)_(?P<min>\d+)`, Extract: "${maj}.${min}", Numerical: &OrderSpec{}}, []string{"1_2-c", "1_9-a", "1_10-b", "x_1"}, "1_9-a", "1.9"},
		"template desc":    {Spec{Pattern: `^(?P<maj>\d+)_(?P<min>\d+)`, Extract: "${maj}.${min}", Numerical: &OrderSpec{Order: Descending}}, []string{"1_9-a", "1_10-b", "1_2-c"}, "1_10-b", "1.10"},
		"template semver":  {Spec{Pattern: `^r(\d+)_(\d+)`, Extract: "$1.$2.0", Semver: &SemverSpec{Range: "*"}}, []string{"r1_2", "r1_10", "r0_99"}, "r1_10", "1.10.0"},
		"no extract":       {Spec{Pattern: `^v`, Alphabetical: &OrderSpec{}}, []string{"v1", "v2", "x3"}, "v2", "v2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := MustCompile(tc.spec)
			for _, explain := range []bool{false, true} {
				res, err := p.Select(tc.tags, Options{Explain: explain})
				if err != nil {
					t.Fatalf("explain=%v: %v", explain, err)
				}
				got := [2]string{res.Tag, res.Value}
				if diff := cmp.Diff([2]string{tc.wantTag, tc.wantValue}, got); diff != "" {
					t.Errorf("explain=%v: tag and value (-want +got):\n%s", explain, diff)
				}
			}
		})
	}
}

func TestSelectOrderIndependent(t *testing.T) {
	tags := []string{"1.2", "1.2.0", "v1.2.0", "1.1.9", "1.2.0+b1", "1.2.0+b2", "0.1"}
	p := MustCompile(Spec{Semver: &SemverSpec{Range: "*"}})
	r := rand.New(rand.NewPCG(1, 2))
	want := ""
	for i := 0; i < 50; i++ {
		r.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
		res, err := p.Select(tags, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if want == "" {
			want = res.Tag
		}
		if res.Tag != want {
			t.Fatalf("order %v selected %q, earlier %q", tags, res.Tag, want)
		}
	}
	if want != "v1.2.0" {
		t.Errorf("tie-break selected %q, want v1.2.0", want)
	}
}

func TestSelectWithFacts(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	type fact struct {
		created   time.Time
		platforms []string
	}
	db := map[string]fact{
		"1.0.0": {now.Add(-72 * time.Hour), []string{"linux/amd64", "linux/arm64"}},
		"1.1.0": {now.Add(-48 * time.Hour), []string{"linux/amd64"}},
		"1.2.0": {now.Add(-10 * time.Minute), []string{"linux/amd64", "linux/arm64"}},
		"main":  {now.Add(-1 * time.Hour), nil},
		"dev":   {now.Add(-2 * time.Hour), nil},
	}
	tests := map[string]struct {
		spec      Spec
		tags      []string
		want      string
		wantAsked []string
	}{
		"minAge skips young build": {
			spec: Spec{Semver: &SemverSpec{Range: "*"}, MinAge: time.Hour},
			tags: []string{"1.0.0", "1.1.0", "1.2.0"}, want: "1.1.0", wantAsked: []string{"1.2.0", "1.1.0"},
		},
		"platforms skip partial": {
			spec: Spec{Semver: &SemverSpec{Range: "*"}, Platforms: []string{"linux/arm64"}},
			tags: []string{"1.0.0", "1.1.0", "1.2.0"}, want: "1.2.0", wantAsked: []string{"1.2.0"},
		},
		"both": {
			spec: Spec{Semver: &SemverSpec{Range: "*"}, Platforms: []string{"linux/arm64"}, MinAge: time.Hour},
			tags: []string{"1.0.0", "1.1.0", "1.2.0"}, want: "1.0.0", wantAsked: []string{"1.2.0", "1.1.0", "1.0.0"},
		},
		"newest build": {
			spec: Spec{NewestBuild: &NewestBuildSpec{}, Glob: "*"},
			tags: []string{"main", "dev"}, want: "main", wantAsked: []string{"main", "dev"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var asked []string
			facts := func(tag string, need Need) (Facts, error) {
				asked = append(asked, tag)
				f := db[tag]
				return Facts{Created: f.created, Platforms: f.platforms}, nil
			}
			res, err := MustCompile(tc.spec).Select(tc.tags, Options{Facts: facts, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tc.want {
				t.Errorf("selected %q, want %q", res.Tag, tc.want)
			}
			slices.Sort(asked)
			slices.Sort(tc.wantAsked)
			if diff := cmp.Diff(tc.wantAsked, asked); diff != "" {
				t.Errorf("facts asked (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectFactsError(t *testing.T) {
	boom := errors.New("registry down")
	_, err := MustCompile(Spec{NewestBuild: &NewestBuildSpec{}}).Select([]string{"a"}, Options{Facts: func(string, Need) (Facts, error) { return Facts{}, boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	_, err = MustCompile(Spec{NewestBuild: &NewestBuildSpec{}}).Select([]string{"a"}, Options{})
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("no facts func: err = %v, want ErrInvalidPolicy", err)
	}
}

func TestExplain(t *testing.T) {
	p := MustCompile(Spec{Exclude: DefaultExclusionList, Semver: &SemverSpec{Range: "<2"}})
	res, err := p.Select([]string{"1.0.0", "x.sig", "latest", "2.0.0", "1.1.0"}, Options{Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Verdict{
		{Tag: "1.0.0", Value: "1.0.0", Rank: 2},
		{Tag: "x.sig", Dropped: reasonExcluded},
		{Tag: "latest", Value: "latest", Dropped: reasonNotVersion},
		{Tag: "2.0.0", Value: "2.0.0", Dropped: reasonOutOfRange},
		{Tag: "1.1.0", Value: "1.1.0", Rank: 1},
	}
	if diff := cmp.Diff(want, res.Explain); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := map[string]struct {
		spec   Spec
		fields []string
	}{
		"no rule":          {Spec{}, []string{"policy"}},
		"two rules":        {Spec{Semver: &SemverSpec{Range: "*"}, Alphabetical: &OrderSpec{}}, []string{"policy"}},
		"bad range":        {Spec{Semver: &SemverSpec{Range: ">>1"}}, []string{"policy.semver.range"}},
		"bad regex":        {Spec{Pattern: "(", Alphabetical: &OrderSpec{}}, []string{"filterTags.pattern"}},
		"missing group":    {Spec{Pattern: "(?P<a>x)", Extract: "$b", Alphabetical: &OrderSpec{}}, []string{"filterTags.extract"}},
		"missing number":   {Spec{Pattern: "(x)", Extract: "${2}", Alphabetical: &OrderSpec{}}, []string{"filterTags.extract"}},
		"bad glob":         {Spec{Glob: "[", Alphabetical: &OrderSpec{}}, []string{"filterTags.glob"}},
		"glob of 9 stars":  {Spec{Glob: strings.Repeat("*a", 9), Alphabetical: &OrderSpec{}}, []string{"filterTags.glob"}},
		"bad order":        {Spec{Numerical: &OrderSpec{Order: "up"}}, []string{"policy.numerical.order"}},
		"bad exclusion":    {Spec{Exclude: []string{"*"}, Alphabetical: &OrderSpec{}}, []string{"exclusionList[0]"}},
		"all reported":     {Spec{Pattern: "(", Glob: "[", Semver: &SemverSpec{Range: "x y z"}}, []string{"filterTags.pattern", "filterTags.glob", "policy.semver.range"}},
		"bad platform":     {Spec{Platforms: []string{"linux"}, Alphabetical: &OrderSpec{}}, []string{"platforms[0]"}},
		"digest needs tag": {Spec{Digest: &DigestSpec{}}, []string{"policy.digest.tag"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(tc.spec)
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if errors.As(e, &fe) {
					got = append(got, fe.Field)
				}
			}
			if diff := cmp.Diff(tc.fields, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGlobStars allows eight * wildcards, and escaped stars beside them.
func TestGlobStars(t *testing.T) {
	for _, g := range []string{strings.Repeat("*a", 8), strings.Repeat("*a", 8) + `\*`, "main-*-**"} {
		if _, err := Compile(Spec{Glob: g, Alphabetical: &OrderSpec{}}); err != nil {
			t.Errorf("Compile(glob %q): %v", g, err)
		}
	}
}

func TestParseShorthand(t *testing.T) {
	tests := map[string]struct {
		in, current string
		tags        []string
		want        string
		wantErr     bool
	}{
		"semver":             {in: "semver:~1.2", tags: []string{"1.2.3", "1.3.0"}, want: "1.2.3"},
		"glob newest build":  {in: "glob:1.2.*", tags: []string{"1.2.3", "1.2.4", "1.3.0"}, want: "1.2.4"},
		"regex newest build": {in: "regex:^main-", tags: []string{"main-a", "main-b", "dev-c"}, want: "main-b"},
		"regexp (Keel)":      {in: "regexp:^main-", tags: []string{"main-a", "dev-c"}, want: "main-a"},
		"alphabetical desc":  {in: "alphabetical:desc", tags: []string{"a", "b"}, want: "a"},
		"numerical":          {in: "numerical", tags: []string{"2", "10"}, want: "10"},
		"keel all":           {in: "all", current: "1.2.3", tags: []string{"1.2.3", "2.0.0-rc.1", "1.9.0"}, want: "2.0.0-rc.1"},
		"keel major":         {in: "major", current: "1.2.3", tags: []string{"1.2.3", "2.0.0-rc.1", "3.0.0"}, want: "3.0.0"},
		"keel minor":         {in: "minor", current: "1.2.3", tags: []string{"1.2.3", "1.9.0", "2.0.0"}, want: "1.9.0"},
		"keel patch":         {in: "patch", current: "v1.2.3", tags: []string{"v1.2.3", "v1.2.9", "v1.3.0"}, want: "v1.2.9"},
		"keel force":         {in: "force", current: "latest", tags: []string{"latest", "1.0"}, want: "latest"},
		"keel minor no curr": {in: "minor", current: "latest", wantErr: true},
		"unknown":            {in: "newest", wantErr: true},
		"bad range":          {in: "semver:>>", wantErr: true},
		"empty":              {in: "", wantErr: true},
		"bad order":          {in: "numerical:up", wantErr: true},
	}
	facts := func(tag string, need Need) (Facts, error) {
		// Later tags in the list were built later.
		return Facts{Created: time.Unix(int64(len(tag))*0+int64(tag[len(tag)-1]), 0)}, nil
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec, err := ParseShorthand(tc.in, tc.current)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("err = %v, want ErrInvalidPolicy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := MustCompile(spec).Select(tc.tags, Options{Facts: facts})
			if err != nil {
				t.Fatal(err)
			}
			if res.Tag != tc.want {
				t.Errorf("selected %q, want %q", res.Tag, tc.want)
			}
		})
	}
}

func FuzzParseShorthand(f *testing.F) {
	for _, s := range []string{"semver:~1.2", "glob:1.*", "regex:^a", "alphabetical:desc", "numerical", "all", "major", "force", "digest:latest"} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, s, current string) {
		spec, err := ParseShorthand(s, current)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		if _, err := Compile(spec); err != nil {
			t.Fatalf("ParseShorthand(%q) returned a spec that does not compile: %v", s, err)
		}
	})
}

// FuzzSelect checks the selection invariants: the result is one of the
// input tags, it passes every filter, no other passing tag ranks above it,
// and the fast path agrees with the explained one.
func FuzzSelect(f *testing.F) {
	f.Add("1.2.3,1.2,v1.2.0,latest,1.3.0-rc.1,x.sig", ">=1.0.0", uint8(0))
	f.Add("b,a,c,10,9", "", uint8(1))
	f.Add("10,9,1.5,abc", "", uint8(2))
	f.Add("v1.2.3,1.2,x1", ">=1", uint8(4))
	f.Add("a10.5b,9,10-2,x", "", uint8(10))
	f.Add("10-2,10-10,9-99,3.0.0-1", "*", uint8(14))
	f.Fuzz(func(t *testing.T, list, rng string, rule uint8) {
		tags := strings.Split(list, ",")
		spec := Spec{Exclude: DefaultExclusionList}
		switch rule % 4 {
		case 0:
			spec.Semver = &SemverSpec{Range: rng}
		case 1:
			spec.Alphabetical = &OrderSpec{}
		case 2:
			spec.Numerical = &OrderSpec{Order: Descending}
		case 3:
			spec.Semver = &SemverSpec{Range: rng, Strict: true}
		}
		// Higher bits add a pattern: whole tag, one group, a template.
		switch rule / 4 % 4 {
		case 1:
			spec.Pattern = `^v?[0-9]`
		case 2:
			spec.Pattern, spec.Extract = `([0-9]+)(\.[0-9]+)?`, "$1"
		case 3:
			spec.Pattern, spec.Extract = `^(?P<a>[0-9]+)-?(?P<b>[0-9]*)`, "${a}.${b}"
		}
		p, err := Compile(spec)
		if err != nil {
			return
		}
		fast, ferr := p.Select(tags, Options{})
		slow, serr := p.Select(tags, Options{Explain: true})
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("fast err %v, explained err %v", ferr, serr)
		}
		if ferr != nil {
			if !errors.Is(ferr, ErrNoMatch) {
				t.Fatalf("unexpected error %v", ferr)
			}
			return
		}
		if fast.Tag != slow.Tag {
			t.Fatalf("fast %q, explained %q", fast.Tag, slow.Tag)
		}
		if !slices.Contains(tags, fast.Tag) {
			t.Fatalf("selected %q is not an input tag", fast.Tag)
		}
		best, reason := p.admit(fast.Tag)
		if reason != "" {
			t.Fatalf("selected %q fails: %s", fast.Tag, reason)
		}
		for _, tag := range tags {
			c, reason := p.admit(tag)
			if reason == "" && p.better(&c, &best) {
				t.Fatalf("%q ranks above selected %q", tag, fast.Tag)
			}
		}
	})
}

func genTags(n int, r *rand.Rand) []string {
	tags := make([]string, n)
	for i := range tags {
		switch r.IntN(10) {
		case 0:
			tags[i] = fmt.Sprintf("sha256-%016x.sig", r.Uint64())
		case 1:
			tags[i] = fmt.Sprintf("main-%07x-%d", r.Uint32()>>4, 1700000000+r.IntN(1e6))
		default:
			tags[i] = fmt.Sprintf("v%d.%d.%d", r.IntN(10), r.IntN(50), r.IntN(100))
		}
	}
	return tags
}

func BenchmarkSelect(b *testing.B) {
	rules := map[string]Spec{
		"semver":            {Exclude: DefaultExclusionList, Semver: &SemverSpec{Range: ">=1.0.0 <8.0.0"}},
		"semver-strict":     {Exclude: DefaultExclusionList, Semver: &SemverSpec{Range: "^5", Strict: true}},
		"alphabetical":      {Alphabetical: &OrderSpec{}},
		"numerical":         {Numerical: &OrderSpec{}},
		"numerical-extract": {Pattern: `^main-[0-9a-f]+-(?P<ts>[0-9]+)$`, Extract: "$ts", Numerical: &OrderSpec{}},
		// Flux's habit: the pattern is not anchored at the end, the value is
		// the group of the first match.
		"numerical-extract-prefix": {Pattern: `^main-[0-9a-f]+-(?P<ts>[0-9]+)`, Extract: "$ts", Numerical: &OrderSpec{}},
		// A template that is not one group reference is expanded.
		"numerical-extract-template": {Pattern: `^main-[0-9a-f]+-(?P<ts>[0-9]+)`, Extract: "${ts}.5", Numerical: &OrderSpec{}},
		// Every tag matches: the cost of the regular expression itself.
		"numerical-extract-all": {Pattern: `^main-[0-9a-f]+-(?P<ts>[0-9]+)`, Extract: "$ts", Numerical: &OrderSpec{}},
		"glob":                  {Glob: "v1.*", Alphabetical: &OrderSpec{}},
	}
	for _, n := range []int{100, 10_000, 100_000} {
		r := rand.New(rand.NewPCG(7, 7))
		tags := genTags(n, r)
		numbers := make([]string, n)
		for i := range numbers {
			numbers[i] = fmt.Sprint(rand.N(1_000_000))
		}
		builds := make([]string, n)
		for i := range builds {
			builds[i] = fmt.Sprintf("main-%07x-%d-%s", r.Uint32()>>4, 1700000000+r.IntN(1e6), [...]string{"amd64", "arm64"}[r.IntN(2)])
		}
		for _, name := range []string{"semver", "semver-strict", "alphabetical", "numerical", "numerical-extract", "numerical-extract-prefix", "numerical-extract-template", "numerical-extract-all", "glob"} {
			p := MustCompile(rules[name])
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				tags := tags
				switch name {
				case "numerical":
					tags = numbers
				case "numerical-extract-all":
					tags = builds
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Select(tags, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tag")
			})
		}
	}
}

// BenchmarkSemverCheck compares the two ways of testing a tag against a
// range in one run: Masterminds (NewVersion + Check) and hoist's evaluator.
func BenchmarkSemverCheck(b *testing.B) {
	tags := genTags(10_000, rand.New(rand.NewPCG(1, 1)))
	p := MustCompile(Spec{Semver: &SemverSpec{Range: ">=1.0.0 <8.0.0"}})
	b.Run("masterminds", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range tags {
				if v, err := semverNewVersion(t); err == nil {
					_ = p.constraint.Check(v)
				}
			}
		}
	})
	b.Run("hoist", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, t := range tags {
				if v, ok := parseVersion(t); ok {
					_ = p.rng.check(&v)
				}
			}
		}
	})
}

func BenchmarkSelectWithFacts(b *testing.B) {
	tags := genTags(10_000, rand.New(rand.NewPCG(3, 3)))
	p := MustCompile(Spec{Exclude: DefaultExclusionList, Semver: &SemverSpec{Range: "*"}, MinAge: time.Hour})
	now := time.Unix(2e9, 0)
	b.ReportAllocs()
	asked := 0
	for b.Loop() {
		_, err := p.Select(tags, Options{Now: now, Facts: func(tag string, _ Need) (Facts, error) {
			asked++
			return Facts{Created: now.Add(-2 * time.Hour)}, nil
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(asked)/float64(b.N), "facts/op")
}

// With verify, a candidate counts only when its facts say it is verified:
// the newest signed tag wins over newer unsigned ones, verification is asked
// best first and stops at the first verified, and explain names the unsigned
// tags with the reason the facts gave.
func TestSelectVerify(t *testing.T) {
	signed := map[string]bool{"1.0.0": true, "1.1.0": true}
	reasons := map[string]string{"1.3.0": "no cosign signature", "1.2.0": "1 cosign signature, none valid for the key"}
	var asked []string
	facts := func(tag string, need Need) (Facts, error) {
		if !need.Verified {
			t.Errorf("facts of %s asked without Verified", tag)
		}
		asked = append(asked, tag)
		return Facts{Verified: signed[tag], Unverified: reasons[tag]}, nil
	}
	p := MustCompile(Spec{Semver: &SemverSpec{Range: "^1"}, Verify: true})
	if !p.Needs().Verified {
		t.Fatal("Needs().Verified is false for a policy with Verify")
	}
	tags := []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0"}
	res, err := p.Select(tags, Options{Facts: facts})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "1.1.0" {
		t.Errorf("selected %q, want 1.1.0 (the newest signed)", res.Tag)
	}
	if diff := cmp.Diff([]string{"1.3.0", "1.2.0", "1.1.0"}, asked); diff != "" {
		t.Errorf("verification asked (-want +got):\n%s", diff)
	}

	asked = nil
	res, err = p.Select(tags, Options{Facts: facts, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Verdict{
		{Tag: "1.0.0", Value: "1.0.0", Rank: 2},
		{Tag: "1.1.0", Value: "1.1.0", Rank: 1},
		{Tag: "1.2.0", Value: "1.2.0", Dropped: "not verified: 1 cosign signature, none valid for the key"},
		{Tag: "1.3.0", Value: "1.3.0", Dropped: "not verified: no cosign signature"},
		{Tag: "2.0.0", Value: "2.0.0", Dropped: reasonOutOfRange},
	}
	if diff := cmp.Diff(want, res.Explain); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}

	_, err = p.Select([]string{"1.2.0", "1.3.0"}, Options{Facts: facts})
	if !errors.Is(err, ErrNoMatch) {
		t.Errorf("no signed tag: err = %v, want ErrNoMatch", err)
	}
}

// With verify and the newest-build rule, every candidate's build time is
// read but only the newest ones are verified, down to the first verified:
// verification is the last check, asked of candidates that passed the
// others (minAge here).
func TestSelectVerifyNewestBuild(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	built := map[string]time.Time{
		"a": now.Add(-4 * time.Hour), "b": now.Add(-3 * time.Hour),
		"c": now.Add(-2 * time.Hour), "d": now.Add(-time.Minute),
	}
	signed := map[string]bool{"a": true, "b": true}
	var verified, factsOf []string
	facts := func(tag string, need Need) (Facts, error) {
		if need.Verified {
			if need.Created || need.Platforms {
				t.Errorf("verification of %s asked together with other facts: %+v", tag, need)
			}
			verified = append(verified, tag)
			return Facts{Verified: signed[tag], Unverified: "no cosign signature"}, nil
		}
		factsOf = append(factsOf, tag)
		return Facts{Created: built[tag]}, nil
	}
	p := MustCompile(Spec{NewestBuild: &NewestBuildSpec{}, MinAge: time.Hour, Verify: true})
	res, err := p.Select([]string{"a", "b", "c", "d"}, Options{Facts: facts, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != "b" {
		t.Errorf("selected %q, want b (the newest signed build old enough)", res.Tag)
	}
	slices.Sort(factsOf)
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, factsOf); diff != "" {
		t.Errorf("build times asked (-want +got):\n%s", diff)
	}
	// d is too young (never verified), c is unsigned, b is verified.
	if diff := cmp.Diff([]string{"c", "b"}, verified); diff != "" {
		t.Errorf("verifications asked (-want +got):\n%s", diff)
	}
}
