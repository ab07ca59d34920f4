package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
)

// OpenByToken authorizes an E2B envd call: the sandbox (any tenant) by id
// and its access token (compared in constant time). ErrNotFound when the
// sandbox is not running: gone, never existed, starting, or paused (a
// paused sandbox cannot run anything, and E2B's SDK reads envd's 502 as
// "not running"); adapters answer 502. ErrUnauthenticated (wrong or
// missing token).
func (d *Dataplane) OpenByToken(ctx context.Context, sandboxID, accessToken string) (*Target, error) {
	sb, err := d.runningSandbox(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	if accessToken == "" || sb.AccessToken == "" ||
		subtle.ConstantTimeCompare([]byte(accessToken), []byte(sb.AccessToken)) != 1 {
		return nil, Errorf(ErrUnauthenticated, "invalid or missing access token for sandbox %s", sandboxID)
	}
	return &Target{Sandbox: sb}, nil
}

// FileSignature is an E2B signed file URL's grant: envd's /files accepts
// it instead of the access token.
type FileSignature struct {
	Path      string // the query's path, exactly as sent
	Operation string // "read" (download) or "write" (upload)
	User      string // the query's username; "" when absent
	Signature string // "v1_" + unpadded base64 of the SHA-256 below
	// Expires is the query's signature_expiration (unix seconds); 0 when
	// absent (the signature never expires).
	Expires int64
}

// OpenBySignature authorizes an E2B /files call made with a signed URL
// instead of the access token: Signature must be "v1_" + base64 (no
// padding) of sha256("<path>:<operation>:<user>:<access token>" +
// ":<expires>" when set), as the SDKs compute it. ErrNotFound as for
// OpenByToken; ErrUnauthenticated (wrong or expired signature).
func (d *Dataplane) OpenBySignature(ctx context.Context, sandboxID string, sig FileSignature) (*Target, error) {
	sb, err := d.runningSandbox(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	if sig.Signature == "" || sb.AccessToken == "" ||
		subtle.ConstantTimeCompare([]byte(sig.Signature), []byte(signFile(sig, sb.AccessToken))) != 1 {
		return nil, Errorf(ErrUnauthenticated, "invalid signature for sandbox %s", sandboxID)
	}
	if sig.Expires != 0 && sig.Expires < d.opt.Clock.Now().Unix() {
		return nil, Errorf(ErrUnauthenticated, "signature is already expired")
	}
	return &Target{Sandbox: sb}, nil
}

// SignFile returns the signature of sig's grant for a sandbox whose access
// token is token (what the SDKs compute; for tests and for issuing URLs).
func SignFile(sig FileSignature, token string) string { return signFile(sig, token) }

func signFile(sig FileSignature, token string) string {
	raw := sig.Path + ":" + sig.Operation + ":" + sig.User + ":" + token
	if sig.Expires != 0 {
		raw += ":" + strconv.FormatInt(sig.Expires, 10)
	}
	sum := sha256.Sum256([]byte(raw))
	return "v1_" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// runningSandbox returns the running sandbox id, of any tenant.
// ErrNotFound otherwise; a sandbox that is gone is forgotten.
func (d *Dataplane) runningSandbox(ctx context.Context, id string) (*Sandbox, error) {
	sb, err := d.opt.Store.GetSandbox(ctx, "", id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil || sb.State != SandboxRunning {
		if err != nil || !sb.State.Live() {
			d.forgetSandbox(id)
		}
		return nil, Errorf(ErrNotFound, "sandbox %s is not running", id)
	}
	return sb, nil
}

// OpenForPrincipal authorizes a LangSmith dataplane call: the caller's live
// sandbox by id or name. A paused sandbox is resumed first (the SDK expects
// the platform to wake a stopped box on a dataplane call). ErrNotFound,
// ErrUnauthenticated (no principal), ErrFailedPrecondition (still
// starting).
func (d *Dataplane) OpenForPrincipal(ctx context.Context, ref string) (*Target, error) {
	if d.opt.Sandboxes == nil {
		return nil, errors.New("dataplane: OpenForPrincipal needs DataplaneOptions.Sandboxes")
	}
	sb, err := d.opt.Sandboxes.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	switch sb.State {
	case SandboxRunning:
		return &Target{Sandbox: sb}, nil
	case SandboxStarting:
		return nil, Errorf(ErrFailedPrecondition, "sandbox %q is still starting", ref)
	}
	resumed, _, err := d.opt.Sandboxes.Resume(ctx, sb.ID, 0)
	if errors.Is(err, ErrFailedPrecondition) {
		// Another call resumed it in between.
		if resumed, err = d.opt.Sandboxes.Get(ctx, sb.ID); err == nil && resumed.State != SandboxRunning {
			err = Errorf(ErrFailedPrecondition, "sandbox %q is %s", ref, resumed.State)
		}
	}
	if err != nil {
		return nil, err
	}
	return &Target{Sandbox: resumed}, nil
}

// OpenForTraffic authorizes a request for one of a sandbox's ports (E2B's
// <port>-<id> hosts): any tenant's running sandbox by id; when its policy
// makes ports private, trafficToken must be its traffic token. ErrNotFound
// as for OpenByToken; ErrPermissionDenied (missing or wrong traffic token).
func (d *Dataplane) OpenForTraffic(ctx context.Context, sandboxID, trafficToken string) (*Target, error) {
	sb, err := d.runningSandbox(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	if sb.Network.PrivatePorts {
		want := sb.TrafficToken()
		if trafficToken == "" || subtle.ConstantTimeCompare([]byte(trafficToken), []byte(want)) != 1 {
			return nil, Errorf(ErrPermissionDenied, "the ports of sandbox %s are private: send its traffic access token", sandboxID)
		}
	}
	return &Target{Sandbox: sb}, nil
}
