package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hoist-dev/hoist/automation"
)

// ServeOptions are hoist run's without --once: the loop's options, the
// configuration, the listeners and the service's timing.
type ServeOptions struct {
	// Loop builds the Runner (automation.New); its Metrics are the
	// service's, set by Start.
	Loop automation.Options
	// ConfigPaths are the configuration's files and directories, watched
	// for changes (required).
	ConfigPaths []string
	// Listen is the address of the webhooks, and of /metrics, /status,
	// /healthz and /readyz unless OpsListen is set (required).
	Listen string
	// OpsListen, when set, is a separate address of /metrics and /status
	// (and /healthz, /readyz), so that Listen faces registries with the
	// webhooks only.
	OpsListen string
	// Logger receives the service's log; nil discards.
	Logger *slog.Logger
	// Window, StartupSpread, Grace and WebhookMaxBody are the
	// ServiceOptions of the same names.
	Window, StartupSpread, Grace time.Duration
	WebhookMaxBody               int64
	// Profiling serves /debug/pprof/ with /metrics (ServiceOptions).
	Profiling bool
}

// Server is a started service: configuration loaded, listeners open.
type Server struct {
	svc       *Service
	runner    *automation.Runner
	log       *slog.Logger
	listeners []net.Listener
	servers   []*http.Server
}

// Start builds the service of o (metrics, Runner, Service), loads the
// configuration and opens the listeners. Its errors are of the options or
// the configuration (hoist run exits 2); Serve runs what Start built.
func Start(ctx context.Context, o ServeOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := automation.NewMetrics(promReg)
	if err != nil {
		return nil, err
	}
	o.Loop.Metrics = metrics
	runner, err := automation.New(o.Loop)
	if err != nil {
		return nil, err
	}
	s := &Server{runner: runner, log: o.Logger}
	s.svc, err = NewService(ServiceOptions{
		Runner:         runner,
		ConfigPaths:    o.ConfigPaths,
		Registry:       promReg,
		Metrics:        metrics,
		Logger:         o.Logger,
		Window:         o.Window,
		StartupSpread:  o.StartupSpread,
		Grace:          o.Grace,
		WebhookMaxBody: o.WebhookMaxBody,
		Profiling:      o.Profiling,
	})
	if err != nil {
		runner.Close()
		return nil, err
	}
	if _, err := s.svc.Load(); err != nil {
		runner.Close()
		return nil, err
	}
	if err := s.listen(ctx, o); err != nil {
		runner.Close()
		return nil, err
	}
	return s, nil
}

// listen opens the listeners of o.
func (s *Server) listen(ctx context.Context, o ServeOptions) error {
	type listener struct {
		flag, addr string
		handler    http.Handler
		paths      string
	}
	listeners := []listener{{"--listen", o.Listen, s.svc.Handler(), "/hook/, /metrics, /status, /healthz, /readyz"}}
	if o.OpsListen != "" {
		listeners = []listener{
			{"--listen", o.Listen, s.svc.HookHandler(), "/hook/, /healthz, /readyz"},
			{"--ops-listen", o.OpsListen, s.svc.OpsHandler(), "/metrics, /status, /healthz, /readyz"},
		}
	}
	var lc net.ListenConfig
	for _, l := range listeners {
		ln, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			for _, ln := range s.listeners {
				_ = ln.Close()
			}
			return fmt.Errorf("%s %s: %w", l.flag, l.addr, err)
		}
		s.listeners = append(s.listeners, ln)
		s.servers = append(s.servers, newHTTPServer(l.handler, defaultServerLimits()))
		s.log.Info("listening", "address", ln.Addr().String(), "paths", l.paths)
	}
	return nil
}

// Serve serves the listeners and runs the service until ctx is done, then
// shuts the listeners down and releases the Runner. Its error is the
// service's failure (hoist run exits 1).
func (s *Server) Serve(ctx context.Context) error {
	defer s.runner.Close()
	serveErr := make(chan error, len(s.servers))
	for i, srv := range s.servers {
		go func() { serveErr <- srv.Serve(s.listeners[i]) }()
	}
	runErr := s.svc.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	for range s.servers {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = errors.Join(runErr, err)
		}
	}
	return runErr
}
