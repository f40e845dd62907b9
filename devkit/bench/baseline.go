package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/internal/natsx"
	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"
)

// baselineStream is the baseline's file-storage stream.
const baselineStream = "BENCH"

// runBaseline measures the reference of DESIGN 10: a bare Gin handler doing
// one synchronous JetStream publish per request to a file-storage stream on
// its own embedded server (same fsync mode), answering 202 after the PubAck.
func runBaseline(ctx context.Context, cfg Config, dir string, payload []byte) (loadResult, error) {
	cc := natsx.ConnectConfig{URLs: cfg.NATSURL, Name: "cpibroker-bench-baseline", Logger: cfg.Logger}
	if cfg.NATSURL == "" {
		srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{
			StoreDir: dir, SyncAlways: cfg.Fsync == FsyncAlways, Logger: cfg.Logger,
		})
		if err != nil {
			return loadResult{}, err
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		cc.Server = srv
	}
	nc, js, err := natsx.Connect(cc)
	if err != nil {
		return loadResult{}, err
	}
	defer nc.Close()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: baselineStream, Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
	}); err != nil {
		return loadResult{}, fmt.Errorf("bench: baseline stream: %w", err)
	}

	// Release mode also keeps Gin's debug banner off stdout (--json).
	// Process-wide, as the ingress sets it too.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/v1/flows/:flow/jobs", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		ack, err := js.Publish(c.Request.Context(), "bench.jobs."+c.Param("flow"), body)
		if err != nil {
			c.Status(http.StatusServiceUnavailable)
			return
		}
		seq := strconv.FormatUint(ack.Sequence, 10)
		c.Header("Location", "/v1/jobs/"+seq)
		c.Data(http.StatusAccepted, "application/json", []byte(`{"id":"`+seq+`","status":"queued"}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadResult{}, fmt.Errorf("bench: baseline listen: %w", err)
	}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Warn("bench: baseline server", "err", err)
		}
	}()

	client := newHTTPClient(cfg.Concurrency)
	defer client.CloseIdleConnections()
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	t := target{url: "http://" + ln.Addr().String() + "/v1/flows/" + benchFlow + "/jobs", payload: payload, header: h}
	res := runLoad(ctx, client, t, cfg.Concurrency, cfg.Duration, cfg.ProgressInterval, loadProgress(cfg.Progress, PhaseBaseline, cfg.Duration))
	return res, ctx.Err()
}
