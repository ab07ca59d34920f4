package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/snapgate/snapgate/core"
)

// The engine snapgate supports (deploy/engine.sh builds these releases):
// containerd 2.x, for idmapped snapshot mounts and its runtime
// introspection; runc >= 1.3, for idmapped mounts and the fixes of the
// November 2025 runc CVEs (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881).
const (
	minContainerdMajor = 2
	minRuncMajor       = 1
	minRuncMinor       = 3
	// remapCapability is the overlay snapshotter's word for idmapped lower
	// layers (the kernel supports them on its file system).
	remapCapability = "remap-ids"
)

// checkEngine fails New with what to do when the reachable containerd or
// its runc is older than supported. With userNS it also needs idmapped
// mounts from the snapshotter and from runc; without, an old engine only
// leaves a warning (the documented degraded mode, Options.HostUserNamespace).
func (e *Engine) checkEngine(ctx context.Context, userNS bool) error {
	problems := e.engineProblems(ctx, userNS)
	if len(problems) == 0 {
		return nil
	}
	msg := "the container engine is older than snapgate supports (containerd >= 2.0 with runc >= 1.3; `make run` and deploy/engine.sh provide them): " +
		strings.Join(problems, "; ")
	if !userNS {
		e.log.WarnContext(ctx, msg+"; running without user namespaces as configured")
		return nil
	}
	return core.Errorf(core.ErrUnavailable, "%s (or set SNAPGATE_SANDBOX_USERNS=off to run sandboxes without user namespaces)", msg)
}

func (e *Engine) engineProblems(ctx context.Context, userNS bool) []string {
	ctx = e.withNS(ctx)
	var problems []string
	v, err := e.client.Version(ctx)
	if err != nil {
		return []string{fmt.Sprintf("containerd version: %v", err)}
	}
	if major, _, ok := parseVersion(v.Version); !ok || major < minContainerdMajor {
		// 1.x has no runtime introspection either: nothing more to ask.
		return []string{fmt.Sprintf("containerd is %s", v.Version)}
	}
	info, err := e.client.RuntimeInfo(ctx, sandboxRuntime, nil)
	if err != nil {
		return []string{fmt.Sprintf("runtime %s: %v", sandboxRuntime, err)}
	}
	feats, _ := info.Features.(*features.Features)
	runc := ""
	if feats != nil {
		runc = feats.Annotations["org.opencontainers.runc.version"]
	}
	major, minor, ok := parseVersion(runc)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("the runtime reports no runc version (%q)", runc))
	case major < minRuncMajor || major == minRuncMajor && minor < minRuncMinor:
		problems = append(problems, "runc is "+runc)
	}
	if !userNS {
		return problems
	}
	if feats == nil || feats.Linux == nil || feats.Linux.MountExtensions == nil ||
		feats.Linux.MountExtensions.IDMap == nil || feats.Linux.MountExtensions.IDMap.Enabled == nil ||
		!*feats.Linux.MountExtensions.IDMap.Enabled {
		problems = append(problems, "runc has no idmapped mounts")
	}
	caps, err := e.client.GetSnapshotterCapabilities(ctx, e.snapshotter)
	if err != nil {
		problems = append(problems, fmt.Sprintf("snapshotter %s: %v", e.snapshotter, err))
	} else if !slices.Contains(caps, remapCapability) {
		problems = append(problems, fmt.Sprintf("snapshotter %s cannot mount layers idmapped on this kernel and file system", e.snapshotter))
	}
	return problems
}

// parseVersion reads "v2.4.2+unknown" or "1.5.3" as major and minor.
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return major, minor, err1 == nil && err2 == nil
}

// startClaims opens the host's id range claims and returns those of this
// engine's containers that are gone.
func (e *Engine) startClaims(ctx context.Context, dir, address string) error {
	claims, err := newIDClaims(dir, address, e.ns)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	cs, err := e.client.Containers(e.withNS(ctx))
	if err != nil {
		return classify(err, "list sandboxes")
	}
	live := map[string]bool{}
	for _, c := range cs {
		live[c.ID()] = true
	}
	if err := claims.sweep(func(id string) bool { return live[id] }); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.claims = claims
	return nil
}
