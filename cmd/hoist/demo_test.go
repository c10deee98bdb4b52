package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// TestDemo keeps `make demo` working: the whole loop against local servers.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := runDemo(context.Background(), false, &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"pushed", "podinfo:6.0.0 → ", "podinfo:6.1.1", "+          image: ", "podinfo:6.2.0", "nothing to do, main is up to date",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
