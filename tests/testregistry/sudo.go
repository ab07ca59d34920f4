package testregistry

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
)

// sudoFiles are the host files a working sudo needs besides the shared
// libraries ldd names for them (Debian's sudo package).
var sudoFiles = []string{
	"/usr/bin/sudo",
	"/usr/libexec/sudo/sudoers.so",
	"/usr/libexec/sudo/libsudo_util.so.0",
	"/lib/x86_64-linux-gnu/security/pam_permit.so",
}

// SudoImageOptions add the host's sudo to a BusyboxImage: setuid root,
// with the libraries it loads, and configured like E2B's base image, where
// "user" runs anything as root without a password. PAM is reduced to
// pam_permit (nothing to authenticate with NOPASSWD). Needs Debian's sudo
// package on the host (deploy/deps.sh installs it for the tests).
func SudoImageOptions() ([]ImageOption, error) {
	for _, f := range sudoFiles {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("testregistry: sudo image: %w (install Debian's sudo package)", err)
		}
	}
	libs, err := sharedLibraries(sudoFiles)
	if err != nil {
		return nil, err
	}
	var opts []ImageOption
	for _, f := range append(slices.Clone(sudoFiles), libs...) {
		b, err := os.ReadFile(f) // through symlinks: the loader finds the name
		if err != nil {
			return nil, fmt.Errorf("testregistry: sudo image: %w", err)
		}
		mode := int64(0o755)
		if f == "/usr/bin/sudo" {
			mode = 0o4755
		}
		opts = append(opts, WithEntry(tar.Header{Name: f, Typeflag: tar.TypeReg, Mode: mode}, b))
	}
	conf := map[string]string{
		"/etc/sudoers":    "Defaults !fqdn\nroot ALL=(ALL:ALL) ALL\nuser ALL=(ALL:ALL) NOPASSWD: ALL\n",
		"/etc/pam.d/sudo": "auth sufficient pam_permit.so\naccount sufficient pam_permit.so\nsession sufficient pam_permit.so\n",
		"/etc/hosts":      "127.0.0.1 localhost box sandbox\n",
	}
	for _, name := range []string{"/etc/sudoers", "/etc/pam.d/sudo", "/etc/hosts"} {
		mode := int64(0o644)
		if name == "/etc/sudoers" {
			mode = 0o440
		}
		opts = append(opts, WithEntry(tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, []byte(conf[name])))
	}
	return append(opts, WithEntry(tar.Header{Name: "/run", Typeflag: tar.TypeDir, Mode: 0o755}, nil)), nil
}

var lddPath = regexp.MustCompile(`(?m)(/[^\s]+\.so[^\s]*) \(0x`)

// sharedLibraries lists what ldd says bins load, the loader included.
func sharedLibraries(bins []string) ([]string, error) {
	var out []string
	for _, b := range bins {
		text, err := exec.Command("ldd", b).Output()
		if err != nil {
			return nil, fmt.Errorf("testregistry: ldd %s: %w", b, err)
		}
		for _, m := range lddPath.FindAllStringSubmatch(string(text), -1) {
			if p := filepath.Clean(m[1]); !slices.Contains(out, p) && !slices.Contains(bins, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
