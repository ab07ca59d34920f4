package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// snapshotter is what all three sides unpack into.
const snapshotter = "overlayfs"

// connect opens a containerd client and checks that the daemon answers.
func connect(ctx context.Context, addr string) (*containerd.Client, string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := containerd.New(addr, containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, "", fmt.Errorf("connect to containerd at %s: %w", addr, err)
	}
	v, err := c.Version(cctx)
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("containerd at %s does not answer: %w", addr, err)
	}
	return c, v.Version, nil
}

// ctrPull runs `ctr images pull` (fetch, then unpack into overlayfs) and
// returns its wall-clock time, CLI start-up included: that is what a user
// of ctr waits for.
func ctrPull(ctx context.Context, ctrBin, addr, ns, ref string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctrBin, "--address", addr, "-n", ns,
		"images", "pull", "--plain-http", "--snapshotter", snapshotter, ref)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("ctr images pull %s: %w: %s", ref, err, lastLines(out.String(), 5))
	}
	return d, nil
}

// ctrRemove runs `ctr images rm --sync` so the content is collected now.
func ctrRemove(ctx context.Context, ctrBin, addr, ns, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctrBin, "--address", addr, "-n", ns, "images", "rm", "--sync", ref)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images rm %s: %w: %s", ref, err, lastLines(string(out), 5))
	}
	return nil
}

// clientPull is the floor: the containerd Go client's Pull with unpack, in
// this process, the call snapgate's engine makes.
func clientPull(ctx context.Context, c *containerd.Client, ns, registry, ref string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, ns), 10*time.Minute)
	defer cancel()
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(func(h string) (bool, error) { return h == registry, nil })),
	})
	start := time.Now()
	img, err := c.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(snapshotter), containerd.WithResolver(resolver))
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("client pull %s: %w", ref, err)
	}
	if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		return 0, fmt.Errorf("client pull %s: not unpacked (%v)", ref, err)
	}
	return d, nil
}

func clientRemove(ctx context.Context, c *containerd.Client, ns, ref string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	err := c.ImageService().Delete(ctx, ref, images.SynchronousDelete())
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", ref, err)
	}
	return nil
}

// dropNamespace removes every image and lease in ns (collecting content
// synchronously) and then the namespace itself. A missing namespace is fine.
func dropNamespace(ctx context.Context, c *containerd.Client, ns string) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, ns), 2*time.Minute)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	found := false
	for _, n := range nss {
		found = found || n == ns
	}
	if !found {
		return nil
	}
	var errs []error
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list images in %s: %w", ns, err))
	}
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := c.ImageService().Delete(ctx, img.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s in %s: %w", img.Name, ns, err))
		}
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list leases in %s: %w", ns, err))
	}
	for _, l := range ls {
		if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete lease %s in %s: %w", l.ID, ns, err))
		}
	}
	// GC may still be finishing: retry a few times.
	for attempt := 0; ; attempt++ {
		err = c.NamespaceService().Delete(ctx, ns)
		if err == nil || errdefs.IsNotFound(err) {
			break
		}
		if attempt == 20 {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns, err))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// staleNamespaces lists namespaces an earlier, killed run left behind.
func staleNamespaces(ctx context.Context, c *containerd.Client) []string {
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range nss {
		if strings.HasPrefix(n, "snapbench-") {
			out = append(out, n)
		}
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
