package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// getRoute is the route the access log names for GET /snapshots/{id}.
const getRoute = "/api/v2/sandboxes/snapshots/:snapshot_ref"

// loadResult is the GET latency of one validation mode.
type loadResult struct {
	label   string
	lat     []time.Duration // client-observed, measured phases only
	server  []time.Duration // handler time from the access log, same phases
	elapsed time.Duration   // summed length of the measured phases
	errors  int
	firstEr error
	// CPU time used during the measured phases, by the server process and
	// by this process (the load generator), to show who had the cores.
	serverCPU, clientCPU time.Duration
}

func (r *loadResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

// newLoadClient is shared by all load goroutines: enough idle connections
// per host that no request waits for a connection to be dialled.
func newLoadClient(clients int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        4 * clients,
			MaxIdleConnsPerHost: max(64, 2*clients),
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// hammer runs clients goroutines issuing GET url for d, and returns every
// latency and the errors (any answer but 200 counts as one).
func hammer(ctx context.Context, c *http.Client, url, key string, clients int, d time.Duration) ([]time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	end := time.Now().Add(d)
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		firstErr error
		wg       sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			nerr := 0
			var ferr error
			for time.Now().Before(end) && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
				req.Header.Set("X-Api-Key", key)
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
					}
				}
				if err != nil {
					nerr++
					if ferr == nil {
						ferr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += nerr
			if firstErr == nil {
				firstErr = ferr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return all, errs, firstErr
}

// latencyBench measures GET /snapshots/{id} on both processes in the order
// on, off, off, on (each phase half of cfg.duration, after its own warm-up),
// so drift on a shared machine hits both modes alike.
func latencyBench(ctx context.Context, cfg config, env *benchEnv, ids map[*snapgateProc]string) (on, off *loadResult, err error) {
	c := newLoadClient(cfg.clients)
	defer c.CloseIdleConnections()
	on = &loadResult{label: "on"}
	off = &loadResult{label: "off"}
	res := map[*snapgateProc]*loadResult{env.on: on, env.off: off}
	order := []*snapgateProc{env.on, env.off, env.off, env.on}
	phase := cfg.duration / 2
	for i, sg := range order {
		url := sg.base + "/api/v2/sandboxes/snapshots/" + ids[sg]
		if _, n, ferr := hammer(ctx, c, url, sg.key, cfg.clients, cfg.warmup); n > 0 {
			return nil, nil, fmt.Errorf("warm-up against %s: %d errors, first: %v", sg.label, n, ferr)
		}
		from := sg.logSize()
		pid := sg.cmd.Process.Pid
		sc0, cc0 := procCPU(pid), selfCPU()
		start := time.Now()
		lat, n, ferr := hammer(ctx, c, url, sg.key, cfg.clients, phase)
		elapsed := time.Since(start)
		sc1, cc1 := procCPU(pid), selfCPU()
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		// Let the last access-log lines reach the file.
		time.Sleep(100 * time.Millisecond)
		srv, lerr := serverDurations(sg.logPath, from, sg.logSize(), getRoute)
		if lerr != nil {
			return nil, nil, fmt.Errorf("read access log of %s: %w", sg.label, lerr)
		}
		r := res[sg]
		r.lat = append(r.lat, lat...)
		r.server = append(r.server, srv...)
		r.elapsed += elapsed
		r.serverCPU += sc1 - sc0
		r.clientCPU += cc1 - cc0
		r.errors += n
		if r.firstEr == nil {
			r.firstEr = ferr
		}
		progress("  GET phase %d/4 validation %-3s  %d requests, p50 %s p99 %s", i+1, r.label, len(lat), millis(quantile(lat, 0.5)), millis(quantile(lat, 0.99)))
		if err := sg.Alive(); err != nil {
			return nil, nil, err
		}
	}
	return on, off, nil
}
