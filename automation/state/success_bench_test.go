package state

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPutRunAtRest records the success of runs at rest, 500
// automations' runs 600 ms apart (a 5-minute interval): each written and
// synced at once (PutLastSuccess, how PutRun wrote them before), against
// kept back and written together a minute after the last such write
// (PutRun). One op is one run's record.
func BenchmarkPutRunAtRest(b *testing.B) {
	const automations = 500
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, each := range []bool{true, false} {
		name := "kept-back"
		if each {
			name = "one-sync-each"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), File), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			keys := make([]string, automations)
			for i := range keys {
				keys[i] = fmt.Sprintf("fleet/app%03d", i)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				key, at := keys[i%automations], t0.Add(time.Duration(i)*600*time.Millisecond)
				i++
				if each {
					err = s.PutLastSuccess(key, at)
				} else {
					err = s.PutRun(key, RunRecord{Success: at})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
