package registry

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tagListCases are pages as registries send them, and as they should not.
var tagListCases = []struct {
	name string
	body string
	fast bool // read by the fast path
}{
	{"distribution", `{"name":"team/app","tags":["1.0.0","1.1.0","latest"]}`, true},
	{"pretty", "{\n  \"name\": \"app\",\n  \"tags\": [\n    \"v1\",\n    \"v2\"\n  ]\n}\n", true},
	{"tags first", `{"tags":["a"],"name":"x"}`, true},
	{"no tags", `{"name":"app"}`, true},
	{"null tags", `{"name":"app","tags":null}`, true},
	{"empty tags", `{"name":"app","tags":[]}`, true},
	{"empty object", `{}`, true},
	{"tags twice, last wins", `{"tags":["a"],"tags":["b"]}`, true},
	{"tags then null", `{"tags":["a"],"tags":null}`, true},
	{"other array", `{"child":["x"],"tags":["a"]}`, true},
	{"escaped tag", `{"tags":["a\u0062"]}`, false},
	{"non-ASCII tag", `{"tags":["café"]}`, false},
	{"Tags in another case", `{"TAGS":["a"]}`, false},
	{"number in tags", `{"tags":[1]}`, false},
	{"nested object", `{"manifest":{"a":"b"},"tags":["a"]}`, false},
	{"tags a string", `{"tags":"a"}`, false},
	{"trailing comma", `{"tags":["a",]}`, false},
	{"trailing data", `{"tags":["a"]} x`, false},
	{"truncated", `{"tags":["a","b`, false},
	{"not an object", `["a"]`, false},
	{"empty", ``, false},
}

// TestDecodeTagList reads each page as encoding/json does, through the fast
// path where it can.
func TestDecodeTagList(t *testing.T) {
	for _, tc := range tagListCases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := jsonTagList([]byte(tc.body))
			got, err := decodeTagList([]byte(tc.body))
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, encoding/json's %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tags (-encoding/json +decodeTagList):\n%s", diff)
			}
			if _, fast := decodeTagListFast([]byte(tc.body)); fast != tc.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tc.fast)
			}
		})
	}
}

func jsonTagList(body []byte) ([]string, error) {
	var parsed struct {
		Tags []string `json:"tags"`
	}
	err := json.Unmarshal(body, &parsed)
	return parsed.Tags, err
}

// FuzzDecodeTagList checks that whatever a registry sends, the fast path
// either declines it or reads exactly what encoding/json reads.
func FuzzDecodeTagList(f *testing.F) {
	for _, tc := range tagListCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeTagListFast(body)
		if !ok {
			return
		}
		want, err := jsonTagList(body)
		if err != nil {
			t.Fatalf("the fast path read %q, encoding/json refuses it: %v", body, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q (-encoding/json +fast):\n%s", body, diff)
		}
	})
}

func BenchmarkDecodeTagList(b *testing.B) {
	body := []byte(`{"name":"team/app","tags":[`)
	for i := range 1000 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `"1.`...)
		body = append(body, byte('0'+i/100%10), byte('0'+i/10%10), '.', byte('0'+i%10), '"')
	}
	body = append(body, "]}"...)
	for _, tc := range []struct {
		name   string
		decode func([]byte) ([]string, error)
	}{
		{"encoding-json", jsonTagList},
		{"fast", decodeTagList},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tags, err := tc.decode(body)
				if err != nil || len(tags) != 1000 {
					b.Fatal(len(tags), err)
				}
			}
		})
	}
}
