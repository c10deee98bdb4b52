package controller

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestResult: a reconcile waiting for another object comes back after
// --requeue-dependency; a gone object is done; other errors are retried
// by controller-runtime's rate limiter.
func TestResult(t *testing.T) {
	failed := errors.New("writing the status: conflict")
	tests := map[string]struct {
		err     error
		want    reconcile.Result
		wantErr error
	}{
		"done":                     {},
		"object gone":              {err: fmt.Errorf("reading: %w", errNotFound)},
		"waiting for a dependency": {err: errWaiting, want: reconcile.Result{RequeueAfter: 45 * time.Second}},
		"failed":                   {err: failed, wantErr: failed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := result(tc.err, 45*time.Second)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
