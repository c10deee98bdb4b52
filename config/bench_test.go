package config_test

import (
	"os"
	"testing"

	"github.com/hoist-dev/hoist/config"
)

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/hoist.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := config.Parse("hoist.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
