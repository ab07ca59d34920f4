package core

import (
	"context"
	"errors"
	"fmt"
)

// Placement across a cluster. Every node accepts every call, so the URLs
// clients were given (LangSmith dataplane_url, E2B domain) work through
// any node; a call about a sandbox is answered by the live node that holds
// it, and a create by the node placement chooses. Core decides which node
// that is and says so with an *ElsewhereError; the HTTP edge sends the
// call there. Neither happens unless SandboxesOptions.Cluster is set.

// ElsewhereError is the answer to a call another node must serve: it holds
// the sandbox the call is about, or placement chose it for a new one. It
// is never shown to a client: the edge proxies the call to Address, whose
// own answer the client gets. It has no kind: one that reaches an error
// writer is internal.
type ElsewhereError struct {
	Node    string // the node's name
	Address string // its base URL (http://10.0.0.5:8080)
}

func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("answered by node %s at %s", e.Node, e.Address)
}

type forwardedKey struct{}

// ForwardedHere marks ctx as a call another node sent here: it is answered
// on this node, never located or placed again, so two nodes that disagree
// (one's heartbeat just went stale) cannot bounce a call between them.
func ForwardedHere(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedKey{}, true)
}

func forwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey{}).(bool)
	return v
}

// Where tells which node answers a call about the sandbox ref names: an
// id, or a live name in the tenant of ctx's principal when it has one (ids
// alone without one: envd's calls carry an access token, not a key). It
// checks no credentials; the node that answers does. nil: this node
// answers, as it does for a sandbox it holds, an unknown one and one of a
// dead node (which reads as lost); an *ElsewhereError names the live node
// that holds it. Other errors are the store's.
func (s *Sandboxes) Where(ctx context.Context, ref string) error {
	if !s.opt.Cluster || ref == "" || forwarded(ctx) {
		return nil
	}
	tenant := ""
	if p, err := PrincipalFrom(ctx); err == nil {
		tenant = p.TenantID
	}
	sb, err := s.locate(ctx, tenant, ref)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find the node of sandbox %s: %w", ref, err)
	}
	addr, err := s.opt.Nodes.Forward(ctx, sb.Node)
	if err != nil || addr == "" {
		return err
	}
	return &ElsewhereError{Node: sb.Node, Address: addr}
}

// locate returns the sandbox ref names, in any state: by id (any tenant
// when tenantID is empty, as ids are global), else by live name within
// tenantID. ErrNotFound.
func (s *Sandboxes) locate(ctx context.Context, tenantID, ref string) (*Sandbox, error) {
	sb, err := s.opt.Store.GetSandbox(ctx, tenantID, ref)
	if err == nil || !errors.Is(err, ErrNotFound) || tenantID == "" {
		return sb, err
	}
	return s.opt.Store.GetSandboxByName(ctx, tenantID, ref)
}

// place chooses the node a new sandbox starts on (Nodes.Place): an
// *ElsewhereError when that is another node. When no node has room, or
// the nodes cannot be listed, the sandbox stays here, where Admit answers
// with this node's own refusal.
func (s *Sandboxes) place(ctx context.Context, sb *Sandbox) error {
	if !s.opt.Cluster || forwarded(ctx) {
		return nil
	}
	n, err := s.opt.Nodes.Place(ctx, sb.VCPUs, sb.MemoryBytes)
	if err != nil {
		if KindOf(err) != ErrResourceExhausted {
			s.opt.Logger.WarnContext(ctx, "place sandbox: starting it here", "err", err)
		}
		return nil
	}
	if n.Name == s.opt.Nodes.Self() {
		return nil
	}
	return &ElsewhereError{Node: n.Name, Address: n.Address}
}
