package envd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/snapgate/snapgate/core"
)

const (
	// maxMessage bounds a request message (a Start with a large env is
	// the biggest the SDKs send).
	maxMessage = 8 << 20
	// defaultKeepalive is envd's interval when Keepalive-Ping-Interval is absent.
	defaultKeepalive = 90 * time.Second
)

// handlerOptions configure the Connect handlers and the error writer
// alike: strict codecs, the request size bound, and the interceptor that
// turns core errors into Connect ones.
func (a *API) handlerOptions() []connect.HandlerOption {
	return []connect.HandlerOption{
		connect.WithCodec(protoCodec{}),
		connect.WithCodec(jsonCodec{"json"}),
		connect.WithCodec(jsonCodec{"json; charset=utf-8"}),
		connect.WithReadMaxBytes(maxMessage),
		connect.WithInterceptors(errorInterceptor{a}),
	}
}

// The codecs are connect-go's (protojson and proto) without their
// tolerance of unknown fields: a field snapgate does not know is refused
// with invalid_argument naming it, never ignored. The request messages of
// specs/envd are complete, so only a field E2B adds later can be unknown.
type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (jsonCodec) Marshal(msg any) ([]byte, error) {
	m, err := protoMessage(msg)
	if err != nil {
		return nil, err
	}
	return protojson.Marshal(m)
}

// Unmarshal reads an empty body as the empty message, as the binary codec
// does (curl -X POST …/List).
func (jsonCodec) Unmarshal(b []byte, msg any) error {
	m, err := protoMessage(msg)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		proto.Reset(m)
		return nil
	}
	return protojson.Unmarshal(b, m)
}

type protoCodec struct{}

func (protoCodec) Name() string { return "proto" }

func (protoCodec) Marshal(msg any) ([]byte, error) {
	m, err := protoMessage(msg)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

func (protoCodec) Unmarshal(b []byte, msg any) error {
	m, err := protoMessage(msg)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	return unknownField(m.ProtoReflect())
}

func protoMessage(msg any) (proto.Message, error) {
	m, ok := msg.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", msg)
	}
	return m, nil
}

// unknownField finds a field the binary decoder kept as unknown, in m or
// any message below it.
func unknownField(m protoreflect.Message) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, _, _ := protowire.ConsumeTag(raw)
		return fmt.Errorf("%s: unknown field number %d", m.Descriptor().FullName(), num)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = unknownField(mv.Message())
					return err == nil
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len() && err == nil; i++ {
					err = unknownField(v.List().Get(i).Message())
				}
			}
		case fd.Message() != nil:
			err = unknownField(v.Message())
		}
		return err == nil
	})
	return err
}

// errorInterceptor hands every error an RPC handler returns to rpcError,
// the one place core kinds become Connect codes.
type errorInterceptor struct{ a *API }

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		resp, err := next(ctx, req)
		if err != nil {
			return nil, i.a.rpcError(ctx, req.Spec().Procedure, err)
		}
		return resp, nil
	}
}

func (i errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return i.a.rpcError(ctx, conn.Spec().Procedure, next(ctx, conn))
	}
}

// call is what the gin middleware learnt about a request (its sandbox,
// opened for its token), carried to the Connect handlers in the request's
// context.
type call struct {
	requestID, sandbox string
	target             *core.Target
}

type callKey struct{}

func withCall(ctx context.Context, c *call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// callOf returns the request's call; the zero call outside one.
func callOf(ctx context.Context) *call {
	if c, ok := ctx.Value(callKey{}).(*call); ok {
		return c
	}
	return &call{}
}

// logAttrs are the call's ids for error logs (never the token).
func (c *call) logAttrs() []any {
	return []any{"request_id", c.requestID, "sandbox", c.sandbox}
}

// untilClientLeaves is ctx without its deadline (Connect-Timeout-Ms), which
// a stream handles itself, and the time left until it; the context still
// ends when the client goes.
func untilClientLeaves(ctx context.Context) (context.Context, time.Duration, context.CancelFunc) {
	live, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return live, timeLeft(ctx), func() { stop(); cancel() }
}

// timeLeft is the time until ctx's deadline (Connect-Timeout-Ms); 0 for none.
func timeLeft(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return max(time.Until(d), time.Millisecond)
}

// keepaliveOf reads Keepalive-Ping-Interval (seconds).
func keepaliveOf(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Keepalive-Ping-Interval"))
	// Past an hour a keepalive keeps nothing alive; far past it, seconds
	// wrap around to a negative duration, on which a ticker panics.
	if err != nil || s <= 0 || s > 3600 {
		return defaultKeepalive
	}
	return time.Duration(s) * time.Second
}

// noBuffering asks proxies (nginx) not to hold a stream's messages back.
func noBuffering(h http.Header) { h.Set("X-Accel-Buffering", "no") }

// response wraps a handler's message, or passes its error on.
func response[T any](msg *T, err error) (*connect.Response[T], error) {
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(msg), nil
}
