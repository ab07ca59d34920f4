// Package core is snapgate's domain: the rules both vendor APIs share,
// written once, with no knowledge of HTTP, SQL or containerd. It imports
// the standard library and a UUID package; never gin, gorm, kin-openapi
// or containerd. The adapters (LangSmith, E2B, envd) call into it, and
// store and core/engine implement its ports, so every arrow points at
// core.
//
// Services hold the business rules, one per concern: Snapshots (image
// snapshots built asynchronously by claimed workers, and the record of
// captures), Sandboxes (start from a snapshot, pause, resume, timeouts,
// kill, capture, reconciliation with the engine), Dataplane (processes and
// files inside a running sandbox), Nodes (heartbeats, placement, loss of a
// dead node's sandboxes), Metrics (each running sandbox's CPU, memory and
// disk use, sampled on a schedule into a bounded in-memory history), Keys
// and Registries. A handler turns a vendor
// request into one service call and the answer back into the vendor's
// shape; tenancy comes from the Principal in the context, never from the
// request. Service methods name the error kinds they return. In a
// cluster, which node serves a call is core's decision too: Sandboxes.Where
// (a call about a sandbox) and Sandboxes.Create (placement) answer an
// *ElsewhereError naming the node, and the HTTP edge proxies the call there.
//
// Ports are the interfaces a service needs, declared here beside their
// consumers and speaking only core types: Store (snapshots, sandboxes,
// keys, registries, nodes; every write of a state is a compare-and-set),
// Engine, SandboxEngine and DataplaneEngine (images, containers, processes,
// files), SandboxFS (a sandbox's files, which DataplaneEngine opens: how
// to touch a hostile tree is the engine's, what a client may do and is
// told is core's), Clock, Sealer (secrets at rest) and Observer (metrics).
// core/coretest has in-memory fakes of them for core's own tests.
//
// Errors leave core, and every port, with one of the kinds in errors.go
// (ErrNotFound, ErrInvalidArgument, ...) or as internal. A *Error pairs a
// kind with a message safe to show a client and a cause that goes to logs
// only: KindOf and PublicMessage read the outermost classified error of a
// chain, so a NotFound wrapped in an Unavailable is answered unavailable,
// not not-found. SandboxFS alone speaks errno (the vocabulary of
// filesystems, which an agent in a microVM carries as a number): core
// classifies its errors once, naming the path as the client wrote it.
// Each adapter maps kinds to its vendor's statuses and bodies in one table.
//
// Sandboxes (SandboxState) and snapshots (SnapshotStatus) are state
// machines, each drawn in its type's comment and allowed by one transition
// table. Every change goes through transitionSandbox or finishSnapshot,
// which refuse a step the table lacks (a *TransitionError, matching
// ErrFailedPrecondition) before the store's compare-and-set writes it; a
// test reads core's code to keep every step it uses in the tables.
// Snapshot references, as either vendor writes them, have one grammar:
// ParseSnapshotRef.
package core
