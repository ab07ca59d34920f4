package core

import (
	"context"
	"crypto/subtle"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
)

// signedPage is how many running sandboxes SignedSandbox reads at once.
const signedPage = 256

// signatureShape is a v1 signature: "v1_" and the unpadded base64 of a
// SHA-256. Anything else matches no sandbox and is refused unsearched.
var signatureShape = regexp.MustCompile(`^v1_[A-Za-z0-9+/]{43}$`)

// SignedSandbox authorizes an E2B /files call made with a signed URL that
// names no sandbox: E2B_SANDBOX_URL links carry neither the sandbox id
// (that is a header, which a bare URL cannot carry) nor the access token,
// only the signature, which only the sandbox whose token made it verifies.
// Running sandboxes of every tenant are tried newest first (a link is
// usually used soon after it is made), a page at a time, each page's
// signatures computed on a bounded number of goroutines. Then it is
// OpenBySignature on the sandbox found. ErrUnauthenticated (no sandbox's
// signature, or expired: "signature is already expired", E2B's words).
func (d *Dataplane) SignedSandbox(ctx context.Context, sig FileSignature) (*Target, error) {
	if !signatureShape.MatchString(sig.Signature) {
		return nil, Errorf(ErrUnauthenticated, "invalid signature")
	}
	f := SandboxFilter{States: []SandboxState{SandboxRunning}, Limit: signedPage}
	for {
		page, err := d.opt.Store.ListSandboxes(ctx, "", f)
		if err != nil {
			return nil, fmt.Errorf("list running sandboxes to verify a signed URL: %w", err)
		}
		if sb := signedBy(page, sig); sb != nil {
			return d.OpenBySignature(ctx, sb.ID, sig)
		}
		if len(page) < signedPage {
			return nil, Errorf(ErrUnauthenticated, "invalid signature")
		}
		last := page[len(page)-1]
		f.AfterCreated, f.AfterID = last.CreatedAt, last.ID
	}
}

// signedBy returns the sandbox of page whose access token made sig, nil
// for none.
func signedBy(page []*Sandbox, sig FileSignature) *Sandbox {
	var (
		found atomic.Pointer[Sandbox]
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	workers := min(runtime.GOMAXPROCS(0), 8, len(page))
	for range workers {
		wg.Go(func() {
			for found.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(page) {
					return
				}
				sb := page[i]
				if sb.AccessToken != "" && subtle.ConstantTimeCompare([]byte(sig.Signature), []byte(signFile(sig, sb.AccessToken))) == 1 {
					found.CompareAndSwap(nil, sb)
				}
			}
		})
	}
	wg.Wait()
	return found.Load()
}
