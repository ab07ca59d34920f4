// Command testregistry serves test images from an in-process registry for
// shell scripts (contract tests, benchmarks): it pushes busybox:latest (and
// busybox:many-files with -many-files, busybox:sudo with -sudo), prints
// host:port as one line on stdout, and serves plain HTTP until SIGINT or
// SIGTERM.
package main

import (
	"archive/tar"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/snapgate/snapgate/tests/testregistry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testregistry:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	manyFiles := flag.Bool("many-files", false, "also push busybox:many-files (20000 extra files)")
	sudo := flag.Bool("sudo", false, "also push busybox:sudo (the host's sudo, passwordless for user)")
	username := flag.String("username", "", "require basic auth with this user (and -password)")
	password := flag.String("password", "", "password for -username")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	opts := []testregistry.Option{testregistry.WithListenAddress(*listen)}
	if *username != "" {
		opts = append(opts, testregistry.WithBasicAuth(*username, *password))
	}
	reg, err := testregistry.Start(ctx, opts...)
	if err != nil {
		return err
	}
	defer reg.Close()

	// A character device (/dev/zero's numbers) at /zero: in its user
	// namespace a sandbox cannot make one, but an image can bring one, and
	// the boundary tests check the dataplane never opens it.
	zero := testregistry.WithEntry(tar.Header{Name: "/zero", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 5}, nil)
	if err := push(ctx, log, reg, "latest", zero); err != nil {
		return err
	}
	if *manyFiles {
		if err := push(ctx, log, reg, "many-files", testregistry.WithExtraFiles(20000)); err != nil {
			return err
		}
	}
	if *sudo {
		opts, err := testregistry.SudoImageOptions()
		if err != nil {
			return err
		}
		if err := push(ctx, log, reg, "sudo", opts...); err != nil {
			return err
		}
	}
	fmt.Println(reg.Addr())
	log.Info("serving", "addr", reg.Addr())
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func push(ctx context.Context, log *slog.Logger, reg *testregistry.Registry, tag string, opts ...testregistry.ImageOption) error {
	img, err := testregistry.BusyboxImage(opts...)
	if err != nil {
		return err
	}
	d, err := reg.Push(ctx, "busybox", tag, img)
	if err != nil {
		return err
	}
	log.Info("pushed", "ref", reg.Ref("busybox", tag), "digest", d)
	return nil
}
