package engine

import (
	"context"
	"io"
	"log/slog"

	clog "github.com/containerd/log"
	"github.com/sirupsen/logrus"
)

// containerdLogger routes the containerd client's own log lines (logrus,
// taken from ctx) to slog, Warn and above only: its Info lines ("fetch
// failed after status: 404 Not Found") repeat errors Pull already returns.
func containerdLogger(l *slog.Logger) *clog.Entry {
	lg := logrus.New()
	lg.SetLevel(logrus.WarnLevel)
	lg.SetOutput(io.Discard)
	lg.AddHook(slogHook{l})
	return logrus.NewEntry(lg)
}

type slogHook struct{ l *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelWarn
	if e.Level <= logrus.ErrorLevel {
		level = slog.LevelError
	}
	attrs := make([]any, 0, 2+2*len(e.Data))
	attrs = append(attrs, "component", "containerd_client")
	for k, v := range e.Data {
		attrs = append(attrs, k, v)
	}
	h.l.Log(ctx, level, e.Message, attrs...)
	return nil
}
