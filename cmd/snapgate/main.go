// Command snapgate serves the LangSmith (and E2B) sandbox APIs over
// containerd. It is the only package that knows every concrete type.
//
//	snapgate [serve]                      run the server (configured by SNAPGATE_* env)
//	snapgate keys create --tenant T       mint an API key for tenant T and print it
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, logger); err != nil {
		logger.Error("snapgate stopped", "err", err)
		fmt.Fprintln(os.Stderr, "snapgate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, logger *slog.Logger) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if len(args) == 0 || args[0] == "serve" {
		return serve(ctx, cfg, logger)
	}
	if len(args) >= 2 && args[0] == "keys" && args[1] == "create" {
		return keysCreate(ctx, cfg, args[2:], stdout, logger)
	}
	return fmt.Errorf("unknown command %q: use serve or keys create --tenant T", args)
}

// keysCreate mints (or, with --key, stores) a key for a tenant.
func keysCreate(ctx context.Context, cfg Config, args []string, stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	tenant := fs.String("tenant", cfg.BootstrapTenant, "tenant the key belongs to")
	key := fs.String("key", "", "store this key instead of minting one (shape e2b_ + 40 hex)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, _, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := newKeys(st).Create(ctx, *tenant, *key)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, secret)
	return err
}
