package ingress

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cpibroker/cpibroker/jobs"
	cpibv1 "github.com/cpibroker/cpibroker/proto/cpibv1"
	"github.com/gin-gonic/gin"
)

// minResultRate is the slowest download a result body is given time for:
// the write deadline grows by one second per this many bytes.
const minResultRate = 256 << 10

// writeResult answers CPI's body of rec's run byte for byte, with its
// content type and the Job-Status, CPI-Status and CPI-Message-Id headers.
// A body in the object store is streamed: memory stays bounded whatever
// its size.
func (s *Server) writeResult(c *gin.Context, status int, rec *cpibv1.JobRecord) {
	res := rec.GetResult()
	body, err := s.deps.Jobs.OpenResult(c, rec)
	if err != nil {
		writeProblem(c, err)
		return
	}
	defer body.Close()
	c.Header("Job-Status", jobs.StatusName(rec.GetStatus()))
	c.Header("CPI-Status", strconv.Itoa(int(res.GetStatusCode())))
	if res.GetCpiMessageId() != "" {
		c.Header("CPI-Message-Id", res.GetCpiMessageId())
	}
	ct := res.GetContentType()
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Header("Content-Type", ct)
	// CPI's content type is the iFlow's to choose; a browser must not
	// sniff a result into something it renders or runs.
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Length", strconv.FormatInt(res.GetSize(), 10))
	if res.GetSize() > minResultRate {
		// A large body may take longer than the server's write timeout.
		d := s.cfg.WriteTimeout + time.Duration(res.GetSize()/minResultRate)*time.Second
		_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(d))
	}
	c.Status(status)
	if _, err := io.Copy(c.Writer, body); err != nil {
		s.log.Warn("ingress: result body cut off", "job_id", rec.GetId(), "err", err)
		panic(http.ErrAbortHandler) // the partner sees a short body, never a wrong one
	}
}
