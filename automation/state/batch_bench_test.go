package state

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkPutSelectionConcurrent stores selections from 4 goroutines at
// once, as concurrent callers of PutSelection do (the service's scans did
// before their selections were written behind them, in one writer's
// PutSelections: see service.BenchmarkStartup): each write a transaction
// and a sync of its own (txUpdate, how PutSelection wrote before), against
// writes gathered into shared ones (txBatch, how it writes now). One op is
// one selection on disk.
func BenchmarkPutSelectionConcurrent(b *testing.B) {
	const writers = 4
	rec := SelectionRecord{Ref: "ghcr.io/org/app:1.2.3", Tag: "1.2.3", At: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	for _, mode := range []struct {
		name string
		mode txMode
	}{{"one-sync-each", txUpdate}, {"batched", txBatch}} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), File), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						key := fmt.Sprintf("apps:app%d", i)
						if err := s.tx(mode.mode, "storing selections", func(tx *bolt.Tx) error {
							return putJSON(tx.Bucket(stateBucketSelections), key, rec)
						}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
