package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity jobctl asks for when its output is a pipe: 1 MiB,
// the most an unprivileged process may set by default
// (/proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// widenPipe enlarges w's pipe buffer when w is a pipe, so that streamed
// output crosses it in fewer, larger writes (the default 64 KiB makes
// jobctl and its reader take turns every 64 KiB). It is best effort.
func widenPipe(w io.Writer) {
	f, ok := w.(*os.File)
	if !ok {
		return
	}
	if info, err := f.Stat(); err != nil || info.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, pipeSize)
}
