package core

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// portPlaceholder in a request host mask stands for the port the request
// was for (E2B's maskRequestHost "${PORT}").
const portPlaceholder = "${PORT}"

// RequestHost is the Host a request proxied to port of the sandbox carries
// under p: the mask with its port placeholder filled in, "" to keep the
// client's (no mask).
func (p NetworkPolicy) RequestHost(port int) string {
	if p.MaskRequestHost == "" {
		return ""
	}
	return strings.ReplaceAll(p.MaskRequestHost, portPlaceholder, strconv.Itoa(port))
}

// CheckRequestHostMask refuses a request host mask that is not an ASCII
// host name or address with an optional port ("${PORT}" allowed in
// either). field names it in the message. ErrInvalidArgument.
func CheckRequestHostMask(mask, field string) error {
	if mask == "" {
		return nil
	}
	h := strings.ReplaceAll(mask, portPlaceholder, "1")
	if host, port, err := net.SplitHostPort(h); err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			return Errorf(ErrInvalidArgument, "%s: %q has a bad port", field, mask)
		}
		h = host
	}
	if h == "" || strings.ContainsFunc(h, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("/?#@\\", r)
	}) {
		return Errorf(ErrInvalidArgument, "%s: %q is not a host name (ASCII only, optionally with a port)", field, mask)
	}
	return nil
}

// SandboxDomain is the domain E2B's SDKs are told a sandbox lives under:
// the configured one, else the host the client reached (port included),
// whose loopback address is written "localhost". The SDKs address a port
// as "<port>-<sandbox id>.<domain>": under an IP address that is no
// resolvable name, while "*.localhost" names loopback (browsers, curl and
// systemd-resolved resolve it so), and a "127.0.0.1:8080" client is
// on this host.
func SandboxDomain(configured, requestHost string) string {
	if configured != "" {
		return configured
	}
	host, port, err := net.SplitHostPort(requestHost)
	if err != nil {
		host, port = strings.Trim(requestHost, "[]"), ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		host = "localhost"
	}
	if port == "" {
		return host
	}
	return net.JoinHostPort(host, port)
}
