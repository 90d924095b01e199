package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/safe"
)

// Config configures a registry instance (trib registry).
type Config struct {
	Brokers []string // seed brokers
	Listen  string   // HTTP listen address, e.g. 127.0.0.1:8081 (":0" picks a port)
	// Advertise is the URL other instances forward writes to; default
	// http://<listen address>.
	Advertise string
	Topic     string // default _schemas
	Group     string // election group, default schema-registry
	// Eligible says whether this instance may be elected writer (Confluent's
	// leader.eligibility); a non-eligible instance forwards every write.
	Eligible             bool
	DefaultCompatibility string
	Logger               *slog.Logger
	// ClientOpts are extra franz-go options (TLS, SASL, client id).
	ClientOpts []kgo.Opt
}

// Service is a running registry instance: the log reader, the election
// and the HTTP server.
type Service struct {
	Registry *Registry
	Election *Election
	addr     net.Addr
	srv      *http.Server
	log      *KafkaLog
	cancel   context.CancelFunc
	done     chan struct{}
}

// Start connects to the cluster, reads the whole _schemas topic, joins the
// writer election and serves the API. It returns once the instance has
// caught up with the topic and is listening.
func Start(ctx context.Context, c Config) (*Service, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.ClientOpts...)
	log, err := OpenKafkaLog(ctx, c.Topic, c.Logger, opts...)
	if err != nil {
		return nil, err
	}
	reg, err := New(log, Options{DefaultCompatibility: c.DefaultCompatibility, Logger: c.Logger})
	if err != nil {
		log.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		log.Close()
		return nil, err
	}
	adv := c.Advertise
	if adv == "" {
		adv = "http://" + ln.Addr().String()
	}
	id, err := IdentityFromURL(adv)
	if err != nil {
		ln.Close()
		log.Close()
		return nil, err
	}
	id.MasterEligibility = c.Eligible
	rctx, cancel := context.WithCancel(context.Background())
	s := &Service{Registry: reg, addr: ln.Addr(), log: log, cancel: cancel, done: make(chan struct{})}
	runErr := make(chan error, 1)
	safe.Go(c.Logger, "schema registry log reader", func() {
		err := errors.New("the log reader panicked")
		defer func() { runErr <- err }()
		err = reg.Run(rctx)
	})
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	if err := reg.Sync(sctx); err != nil {
		cancel()
		ln.Close()
		log.Close()
		return nil, fmt.Errorf("reading %s: %w", c.Topic, err)
	}
	s.Election = NewElection(log.Client(), c.Group, id, c.Logger)
	electionDone := make(chan struct{})
	safe.Go(c.Logger, "schema registry election", func() {
		defer close(electionDone)
		safe.Loop(c.Logger, "schema registry election", rctx.Done(), func() { s.Election.Run(rctx) })
	})
	s.srv = &http.Server{Handler: NewHandler(reg, s.Election, c.Logger, 30*time.Second), ReadHeaderTimeout: 10 * time.Second}
	serveDone := make(chan struct{})
	safe.Go(c.Logger, "schema registry http server", func() {
		defer close(serveDone)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.Logger.Error("registry http server", "err", err)
		}
	})
	safe.Go(c.Logger, "schema registry supervisor", func() {
		defer close(s.done)
		select {
		case <-rctx.Done():
		case err := <-runErr:
			if err != nil {
				c.Logger.Error("reading the schemas topic stopped", "err", err)
			}
		}
		cancel()
		s.srv.Close()
		<-electionDone
		<-serveDone
	})
	c.Logger.Info("schema registry listening", "addr", ln.Addr().String(), "advertise", adv, "topic", log.topic)
	return s, nil
}

// Addr is the HTTP listen address.
func (s *Service) Addr() net.Addr { return s.addr }

// URL is the base URL of the listener.
func (s *Service) URL() string { return "http://" + s.addr.String() }

// Done is closed when the service has stopped.
func (s *Service) Done() <-chan struct{} { return s.done }

// Close stops serving, leaves the election and closes the client.
func (s *Service) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.cancel()
	<-s.done
	s.log.Close()
	return err
}
