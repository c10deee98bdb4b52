package controller

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// TestChangesSyncIfChanged: a reconcile reads the cache on the first
// sync and after each event that passed the predicate, not otherwise (a
// scan's reconcile, an event the predicate drops).
func TestChangesSyncIfChanged(t *testing.T) {
	ctx := context.Background()
	ch := newChanges()
	d := &documents{}
	reads := 0
	sync := func(context.Context) error {
		reads++
		applied := make(chan struct{})
		close(applied)
		d.mu.Lock()
		d.applied = applied
		d.mu.Unlock()
		return nil
	}
	// Passes creates only.
	p := ch.predicate(predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		UpdateFunc: func(event.UpdateEvent) bool { return false },
	})
	obj := &v1alpha1.ImagePolicy{}
	var got []int
	for _, step := range []func(){
		func() {},
		func() {},
		func() { p.Create(event.CreateEvent{Object: obj}) },
		func() {},
		func() { p.Update(event.UpdateEvent{ObjectOld: obj, ObjectNew: obj}) },
		func() { p.Create(event.CreateEvent{Object: obj}); p.Create(event.CreateEvent{Object: obj}) },
		func() {},
	} {
		step()
		if err := ch.syncIfChanged(ctx, d, sync); err != nil {
			t.Fatal(err)
		}
		got = append(got, reads)
	}
	if diff := cmp.Diff([]int{1, 1, 2, 2, 2, 3, 3}, got); diff != "" {
		t.Errorf("cache reads after each step (-want +got):\n%s", diff)
	}
}
