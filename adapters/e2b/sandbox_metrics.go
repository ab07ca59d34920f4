package e2b

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/snapgate/snapgate/adapters/e2b/api"
	"github.com/snapgate/snapgate/core"
)

// getSandboxMetrics is GET /sandboxes/{sandboxID}/metrics: the samples the
// sandbox's node took within [start, end] (unix seconds, both optional).
func (a *API) getSandboxMetrics(c *gin.Context) {
	var q core.MetricsQuery
	var err error
	if q.Start, err = unixQuery(c, "start"); err == nil {
		q.End, err = unixQuery(c, "end")
	}
	if err != nil {
		a.writeError(c, err)
		return
	}
	samples, err := a.metrics.SandboxMetrics(ctx(c), c.Param("sandboxID"), q)
	if err != nil {
		a.writeError(c, err)
		return
	}
	out := make([]api.SandboxMetric, 0, len(samples))
	for _, s := range samples {
		out = append(out, api.SandboxMetric{
			Timestamp: s.At.UTC(), TimestampUnix: s.At.Unix(), CpuCount: int32(s.VCPUs),
			CpuUsedPct: float32(s.CPUPercent), MemUsed: s.MemoryUsed, MemTotal: s.MemoryTotal,
			MemCache: s.MemoryCache, DiskUsed: s.DiskUsed, DiskTotal: s.DiskTotal,
		})
	}
	c.JSON(http.StatusOK, out)
}

// unixQuery reads a query parameter of unix seconds; absent is the zero
// time. The spec validator refuses bad values first when it is on.
func unixQuery(c *gin.Context, name string) (time.Time, error) {
	v, ok := c.GetQuery(name)
	if !ok {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, core.Errorf(core.ErrInvalidArgument, "%s must be a unix time in seconds, got %q", name, v)
	}
	return time.Unix(n, 0).UTC(), nil
}
