package engine

import (
	"context"
	"os"
	"path/filepath"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/snapgate/snapgate/core"
)

// SetSandboxNetwork implements core.SandboxEngine: the policy is recorded
// for the sandbox's later starts and, while it runs, its rules are
// rewritten at once (atomically; open connections are judged anew too).
// Without a sandbox network (Options.Network nil) a sandbox reaches
// nothing whatever its policy, so there is nothing to change.
func (e *Engine) SetSandboxNetwork(ctx context.Context, id string, p core.NetworkPolicy) error {
	ctx = e.withNS(ctx)
	unlock, err := e.sandboxes.lock(ctx, id)
	if err != nil {
		return classify(err, "set network of sandbox "+id)
	}
	defer unlock()
	c, err := e.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return core.Errorf(core.ErrNotFound, "sandbox %s not found", id)
	}
	if err != nil {
		return classify(err, "set network of sandbox "+id)
	}
	if e.net == nil {
		return nil
	}
	return e.setNetwork(ctx, c, p)
}

// setNetwork records p for c and applies it when c is on the network.
func (e *Engine) setNetwork(ctx context.Context, c containerd.Container, p core.NetworkPolicy) error {
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return classify(err, "set network of sandbox "+c.ID())
	}
	slot, ok := slotOf(shiftOf(info.Labels))
	if !ok {
		return nil // made without a user namespace: no network
	}
	if err := e.net.setPolicy(c.ID(), p); err != nil {
		return err
	}
	if !linkExists(slot) {
		return nil // not running: its next start applies the policy
	}
	return e.net.apply(ctx, slot, p)
}

// attachNetwork puts a created, not yet started task on the network.
func (e *Engine) attachNetwork(ctx context.Context, c containerd.Container, pid uint32) error {
	if e.net == nil {
		return nil
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return classify(err, "start sandbox "+c.ID())
	}
	slot, ok := slotOf(shiftOf(info.Labels))
	if !ok {
		return nil
	}
	if err := e.net.attach(ctx, c.ID(), slot, pid); err != nil {
		return core.WithCause(core.ErrUnavailable, err, "cannot put sandbox %s on the network", c.ID())
	}
	return nil
}

// detachNetwork removes the sandbox's rules, link and files, with the
// container's labels as loaded before its deletion.
func (e *Engine) detachNetwork(ctx context.Context, id string, labels map[string]string) error {
	if e.net == nil {
		return nil
	}
	slot, ok := slotOf(shiftOf(labels))
	if err := e.net.detach(ctx, id, slot, ok); err != nil {
		return classify(err, "remove network of sandbox "+id)
	}
	return nil
}

// startNetwork, at New (after the id claims' sweep): removes the chains
// of slots nobody holds (no link, no claim: their sandbox ended while no
// snapgate ran, or a crash came between its kill's steps), the files of
// this namespace's sandboxes that are gone, and rewrites the rules of its
// running sandboxes (a firewall reload or reboot may have dropped them).
func (e *Engine) startNetwork(ctx context.Context) error {
	slots, err := e.net.chains(ctx)
	if err != nil {
		return err
	}
	for _, s := range slots {
		if linkExists(s) || e.claims.claimed(uint32(s)*idRangeSize+firstHostID) {
			continue
		}
		if err := runNFT(ctx, e.net.node.Remove(s)); err != nil {
			return err
		}
	}
	cs, err := e.client.Containers(ctx)
	if err != nil {
		return classify(err, "list sandboxes")
	}
	live := map[string]bool{}
	for _, c := range cs {
		live[c.ID()] = true
		info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			continue
		}
		if slot, ok := slotOf(shiftOf(info.Labels)); ok && linkExists(slot) {
			if err := e.net.apply(ctx, slot, e.net.policy(c.ID())); err != nil {
				return err
			}
		}
	}
	ents, err := os.ReadDir(e.net.dir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if !live[ent.Name()] {
			_ = os.RemoveAll(filepath.Join(e.net.dir, ent.Name()))
		}
	}
	return nil
}
