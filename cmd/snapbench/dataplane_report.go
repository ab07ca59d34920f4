package main

import (
	"fmt"
	"io"
	"time"
)

// reportDataplane prints the dataplane section: what was measured, how, and
// the figures; like the rest of the report it judges nothing.
func reportDataplane(w io.Writer, cfg config, res *dataplaneResults) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("== dataplane through the official JS SDKs (snapgate validation on, same containerd; load average %s at start, %s at end)", res.loadStart, loadAvg())
	p("run('true') round trip as the SDK's caller sees it, %d runs per transport, against `ctr task exec --exec-id <unique>", cfg.execRuns)
	p("<sandbox id> true` in the same container (ctr CLI start-up included); sides alternate in blocks of %d runs, each SDK block", execBlock)
	p("in a fresh node process after %d untimed runs. The SDKs run their shell (E2B: /bin/bash -l -c as `user`; LangSmith: /bin/bash -c),", execWarmup)
	p("ctr runs `true` itself; ratio = SDK / ctr; p99 is nearest-rank (with fewer than 100 runs, the slowest run)")
	for _, r := range res.vendors {
		c50, c99 := quantile(r.ctr, 0.5), quantile(r.ctr, 0.99)
		p("  %s (%s)", r.v.name, r.version)
		for _, e := range r.execs {
			s50, s99 := quantile(e.d, 0.5), quantile(e.d, 0.99)
			p("    %-60s p50 %8s  p99 %8s   ratio p50 %.2f  p99 %.2f", e.label, millis(s50), millis(s99), ratio(s50, c50), ratio(s99, c99))
		}
		p("    %-60s p50 %8s  p99 %8s", "ctr task exec, same container", millis(c50), millis(c99))
	}
	p("")
	cached := "unknown"
	if res.cached >= 0 {
		cached = fmt.Sprintf("%.0f%% in page cache", 100*res.cached)
	}
	p("%s file of random bytes: 1 warm-up + %d rounds; in each, `cp` and every SDK's upload then download, in a rotating", mib(res.bytes), cfg.transferRuns)
	p("order, each step after sync(2) + %s; median [min-max] in s, MiB/s of the median, ratio = time / cp's time.", cfg.settle)
	p("cp: source %s before the first measured run, destination overwritten, not fsynced (nor are the SDKs' writes);", cached)
	p("the SDK timings include reading or writing the local file. CPU (medians): the node process's during the timed call, and")
	p("snapgate's during the whole node process (it is idle otherwise); the exec'd processes, containerd and the kernel's writeback are not in either.")
	p("sandbox's writable layer and cp's files: %s", res.sameFS)
	cp := median(res.cp)
	line := func(label string, ds []time.Duration, cpu []transferCPU) {
		m := median(ds)
		cpus := ""
		if len(cpu) > 0 {
			var sdk, sg []time.Duration
			for _, c := range cpu {
				sdk, sg = append(sdk, c.sdk), append(sg, c.snapgate)
			}
			cpus = fmt.Sprintf("  CPU: SDK %s, snapgate %s", secs(median(sdk)), secs(median(sg)))
		}
		p("  %-76s %s %s %5.0f MiB/s  ratio %5.2f%s", label, secs(m), spread(ds), float64(res.bytes)/(1<<20)/m.Seconds(), ratio(m, cp), cpus)
	}
	line("cp, same disk", res.cp, nil)
	for _, r := range res.vendors {
		line(r.v.name+" upload: "+r.v.up, r.up, r.upCPU)
		line(r.v.name+" download: "+r.v.down, r.down, r.downCPU)
	}
	if pr := res.ports; len(pr.ProxyMS) > 0 {
		p("")
		p("a port of the E2B sandbox (busybox httpd), from this node: through snapgate's port proxy (E2b-Sandbox-Id/-Port headers,")
		p("as getHost with E2B_SANDBOX_URL) against a direct connection to the sandbox's address; medians, ratio = proxy / direct")
		pc, dc := median(millisToDurations(pr.ProxyConnectMS)), median(millisToDurations(pr.DirectConnectMS))
		p("  %-44s proxy %8s  direct %8s  ratio %5.2f", fmt.Sprintf("new connection + GET of 3 bytes (%d runs)", len(pr.ProxyConnectMS)), millis(pc), millis(dc), ratio(pc, dc))
		pb, db := median(millisToDurations(pr.ProxyMS)), median(millisToDurations(pr.DirectMS))
		mibs := func(d time.Duration) float64 { return float64(pr.Bytes) / (1 << 20) / d.Seconds() }
		p("  %-44s proxy %5.0f MiB/s  direct %5.0f MiB/s  ratio %5.2f", fmt.Sprintf("GET of %s (%d runs)", mib(pr.Bytes), len(pr.ProxyMS)), mibs(pb), mibs(db), ratio(pb, db))
	}
	p("")
	p("timings are measured, not asserted; this machine is shared, so expect run-to-run spread.")
}
