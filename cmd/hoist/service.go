package main

import (
	"context"
	"io"
	"time"

	"github.com/hoist-dev/hoist/service"
)

// runService is hoist run without --once.
func runService(ctx context.Context, o runOptions, _ io.Writer, stderr io.Writer) error {
	if len(o.configs) == 0 {
		o.configs = []string{"."}
	}
	logger, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		return err
	}
	srv, err := service.Start(ctx, service.ServeOptions{
		Loop:           o.loopOptions(logger, stderr),
		ConfigPaths:    o.configs,
		Listen:         o.listen,
		OpsListen:      o.opsListen,
		Logger:         logger,
		Window:         noneIfZero(o.window),
		StartupSpread:  noneIfZero(o.spread),
		Grace:          o.grace,
		WebhookMaxBody: o.maxBody,
		Profiling:      o.pprof,
	})
	if err != nil {
		return usage(err)
	}
	if err := srv.Serve(ctx); err != nil {
		return failed(err)
	}
	logger.Info("stopped")
	return nil
}

// noneIfZero maps a duration flag whose 0 means "none" (no commit window, no
// startup spread) to the options' spelling of none, a negative value (their
// zero means the default).
func noneIfZero(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
