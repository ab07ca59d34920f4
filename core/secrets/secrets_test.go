package secrets_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapgate/snapgate/core/secrets"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secrets.KeySize) }

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	ring, err := secrets.New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ring.Seal("hunter2", "registries.password:r1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "hunter2") || !strings.HasPrefix(sealed, "sg1:"+ring.KeyID()+":") {
		t.Errorf("sealed = %q, want an sg1 envelope with key id %s and no clear text", sealed, ring.KeyID())
	}
	again, _ := ring.Seal("hunter2", "registries.password:r1")
	if again == sealed {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	got, stale, err := ring.Open(sealed, "registries.password:r1")
	if err != nil || got != "hunter2" || stale {
		t.Errorf("Open = %q, stale %v, %v; want hunter2, fresh", got, stale, err)
	}
	if s, _ := ring.Seal("", "x"); s != "" {
		t.Errorf("Seal(\"\") = %q, want empty", s)
	}
}

// A sealed value moved into another row (a database writer swapping a
// password into a row whose owner can read it back) does not open.
func TestOpenRefusesAValueFromAnotherRow(t *testing.T) {
	t.Parallel()
	ring, _ := secrets.New(key(1))
	sealed, _ := ring.Seal("tenant-a-password", "registries.password:a")
	if _, _, err := ring.Open(sealed, "registries.password:b"); err == nil {
		t.Error("a value sealed for row a opened for row b")
	}
}

func TestClearTextFromBeforeSealingIsStale(t *testing.T) {
	t.Parallel()
	ring, _ := secrets.New(key(1))
	got, stale, err := ring.Open("plain-old-password", "registries.password:r1")
	if err != nil || got != "plain-old-password" || !stale {
		t.Errorf("Open(clear) = %q, stale %v, %v; want it back, stale", got, stale, err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	old, _ := secrets.New(key(1))
	sealed, _ := old.Seal("tok", "sandboxes.access_token:i1")
	rotated, err := secrets.New(key(2), key(1))
	if err != nil {
		t.Fatal(err)
	}
	got, stale, err := rotated.Open(sealed, "sandboxes.access_token:i1")
	if err != nil || got != "tok" || !stale {
		t.Fatalf("Open(old key) = %q, stale %v, %v; want tok, stale", got, stale, err)
	}
	resealed, _ := rotated.Seal(got, "sandboxes.access_token:i1")
	if !strings.HasPrefix(resealed, "sg1:"+secrets.KeyID(key(2))+":") {
		t.Errorf("re-sealed with %q, want the new key's id", resealed)
	}
}

func TestWrongKeyIsAClearError(t *testing.T) {
	t.Parallel()
	a, _ := secrets.New(key(1))
	sealed, _ := a.Seal("pw", "registries.password:r1")
	b, _ := secrets.New(key(2))
	_, _, err := b.Open(sealed, "registries.password:r1")
	if !errors.Is(err, secrets.ErrUnknownKey) || !strings.Contains(err.Error(), secrets.KeyID(key(1))) {
		t.Errorf("Open with the wrong key = %v, want ErrUnknownKey naming key id %s", err, secrets.KeyID(key(1)))
	}
	// Same id, other material: a corrupted value.
	corrupt := sealed[:len(sealed)-2] + "AA"
	if _, _, err := a.Open(corrupt, "registries.password:r1"); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("Open(corrupted) = %v, want an authentication error", err)
	}
	for _, bad := range []string{"sg1:", "sg1:" + a.KeyID(), "sg1:" + a.KeyID() + ":!!", "sg1:" + a.KeyID() + ":AA"} {
		if _, _, err := a.Open(bad, "x"); err == nil {
			t.Errorf("Open(%q) succeeded, want malformed", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := key(7)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw) + "\n",
		strings.Repeat("07", 32),
	} {
		if got, err := secrets.ParseKey(s); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16]), "not base64 !!"} {
		if _, err := secrets.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey error %q repeats the value", err)
		}
	}
	if _, err := secrets.New(raw[:16]); err == nil {
		t.Error("New with a 16-byte key succeeded")
	}
}

func TestKeyFileIsCreatedPrivateAndReused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secret.key")
	k1, created, err := secrets.LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k1) != secrets.KeySize {
		t.Fatalf("first load = %d bytes, created %v, %v", len(k1), created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	k2, created, err := secrets.LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: created %v, same key %v, %v", created, bytes.Equal(k1, k2), err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("a 0644 key file was left %v, want 0600", st.Mode().Perm())
	}
}
