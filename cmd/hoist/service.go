package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry"
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
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := automation.NewMetrics(promReg)
	if err != nil {
		return err
	}
	runner, closeFn, err := o.reg.runner(logger, stderr, registry.WithRequestObserver(metrics.ObserveRequest), registry.WithWaitObserver(metrics.RateLimitWait))
	if err != nil {
		return err
	}
	defer closeFn()
	runner.Metrics = metrics
	if runner.GitAuth, err = o.gitAuth(); err != nil {
		return usage(err)
	}
	svc, err := service.NewService(service.ServiceOptions{
		Runner:         runner,
		ConfigPaths:    o.configs,
		Registry:       promReg,
		Metrics:        metrics,
		Logger:         logger,
		Window:         noneIfZero(o.window),
		StartupSpread:  noneIfZero(o.spread),
		Grace:          o.grace,
		WebhookMaxBody: o.maxBody,
	})
	if err != nil {
		return err
	}
	if _, err := svc.Load(); err != nil {
		return usage(err)
	}
	type listener struct {
		flag, addr string
		handler    http.Handler
		paths      string
	}
	listeners := []listener{{"--listen", o.listen, svc.Handler(), "/hook/, /metrics, /status, /healthz, /readyz"}}
	if o.opsListen != "" {
		listeners = []listener{
			{"--listen", o.listen, svc.HookHandler(), "/hook/, /healthz, /readyz"},
			{"--ops-listen", o.opsListen, svc.OpsHandler(), "/metrics, /status, /healthz, /readyz"},
		}
	}
	var (
		lc       net.ListenConfig
		servers  []*http.Server
		serveErr = make(chan error, len(listeners))
	)
	for _, l := range listeners {
		ln, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			for _, srv := range servers {
				_ = srv.Close()
			}
			return usage(fmt.Errorf("%s %s: %w", l.flag, l.addr, err))
		}
		srv := newHTTPServer(l.handler, defaultServerLimits())
		servers = append(servers, srv)
		go func() { serveErr <- srv.Serve(ln) }()
		logger.Info("listening", "address", ln.Addr().String(), "paths", l.paths)
	}

	runErr := svc.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	for range servers {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, err)
		}
	}
	if runErr != nil {
		return failed(runErr)
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
