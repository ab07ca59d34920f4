// Package secrets implements core.Sealer with AES-256-GCM: secrets that
// must be usable again (registry passwords for pulls, sandbox access
// tokens the SDKs present) are encrypted before they reach the database.
// It imports the standard library and core only.
//
// A sealed value is an envelope of printable text, so it fits the same
// text column the clear value used:
//
//	sg1:<key id>:<base64url(nonce || ciphertext || tag)>
//
// The key id is derived from the key itself (8 hex digits of a SHA-256), so
// a keyring finds the key a row was sealed with without any configuration,
// and an operator can tell which key a database needs. Each value is sealed
// with additional data naming its row and column (see core.Sealer), so a
// ciphertext copied into another row or column does not open.
//
// Rotation: a Keyring has one current key, which seals, and any number of
// previous keys, which only open. Open reports values that are not sealed
// with the current key (older keys, or clear text written before sealing
// existed) as stale, and the store re-seals them.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/snapgate/snapgate/core"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// prefix marks a sealed value; anything else is clear text from before
// sealing (a clear value that happens to start with it fails to open,
// loudly, rather than being misread).
const prefix = "sg1:"

// ErrUnknownKey means a value was sealed with a key the keyring does not
// hold: the configured key is wrong, or an old key was dropped too early.
var ErrUnknownKey = errors.New("sealed with a key that is not configured")

// Keyring seals with its current key and opens with any of its keys. It is
// safe for concurrent use.
type Keyring struct {
	current string // key id
	aeads   map[string]cipher.AEAD
}

var _ core.Sealer = (*Keyring)(nil)

// New returns a keyring sealing with current and also opening values
// sealed with any of previous. Every key must be KeySize bytes.
func New(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		id, aead, err := newAEAD(key)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("current secret key: %w", err)
			}
			return nil, fmt.Errorf("previous secret key %d: %w", i, err)
		}
		if i == 0 {
			k.current = id
		}
		if _, dup := k.aeads[id]; dup {
			continue // the same key listed twice is harmless
		}
		k.aeads[id] = aead
	}
	return k, nil
}

// KeyID returns the id of the current key, as it appears in envelopes.
func (k *Keyring) KeyID() string { return k.current }

func newAEAD(key []byte) (string, cipher.AEAD, error) {
	if len(key) != KeySize {
		return "", nil, fmt.Errorf("must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", nil, fmt.Errorf("gcm: %w", err)
	}
	return KeyID(key), aead, nil
}

// KeyID is the id of key in envelopes: not secret, one-way.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("snapgate secret key id\x00"), key...))
	return hex.EncodeToString(sum[:4])
}

// Seal encrypts plaintext with the current key, bound to aad. The empty
// string stays empty: there is nothing to hide, and "no password" must
// stay recognisable without the key.
func (k *Keyring) Seal(plaintext, aad string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: nonce: %w", aad, err)
	}
	out := aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return prefix + k.current + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the plaintext of stored, which was sealed with aad. A value
// without the envelope prefix is clear text from before sealing and is
// returned as it is. stale reports that stored should be sealed again:
// clear text, or sealed with a previous key. Errors: ErrUnknownKey (no key
// of that id), or a failed authentication (wrong key material under a
// colliding id, a corrupted value, or a value moved from another row).
func (k *Keyring) Open(stored, aad string) (plaintext string, stale bool, err error) {
	if stored == "" {
		return "", false, nil
	}
	rest, ok := strings.CutPrefix(stored, prefix)
	if !ok {
		return stored, true, nil
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok {
		return "", false, fmt.Errorf("open %s: malformed sealed value", aad)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", false, fmt.Errorf("open %s: key id %s: %w (current key id %s)", aad, id, ErrUnknownKey, k.current)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", false, fmt.Errorf("open %s: malformed sealed value", aad)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return "", false, fmt.Errorf("open %s with key id %s: authentication failed (corrupted, or not sealed for this row)", aad, id)
	}
	return string(plain), id != k.current, nil
}
