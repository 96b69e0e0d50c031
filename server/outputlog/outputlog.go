// Package outputlog stores one output stream of a job as an append-only file
// and lets any number of readers follow it.
//
// The writer (one goroutine copying the job's pipe) appends to the file; each
// Reader has its own file descriptor and offset, reads with pread, and blocks
// while it has read everything written so far and the log is not complete.
// Writes and Complete wake blocked readers with a broadcast: closing a channel
// that every waiter captured, under the same mutex that guards the size, so
// no wake-up is lost, and a waiting reader can also give up when its context
// ends. Nothing of the output is kept in memory, so server memory stays flat
// however much a job prints and however many readers follow it.
package outputlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ErrOffsetOutOfRange is returned by NewReader for an offset past the end of
// a complete log.
var ErrOffsetOutOfRange = errors.New("offset is past the end of the output")

// copyBufferSize is the size of the chunks copied from the job's pipe: a pipe
// holds 64 KiB by default, so a full pipe drains in one read.
const copyBufferSize = 64 << 10

// Log is one append-only output stream.
type Log struct {
	path string
	// file is the writer's descriptor; nil once the log is complete.
	file *os.File

	mu        sync.Mutex
	size      int64
	limit     int64
	truncated bool
	complete  bool
	// wake is closed (and replaced) to wake the readers waiting on it.
	wake    chan struct{}
	waiting bool
}

// Create makes a new, empty log at path, or takes the empty file made
// there ahead of time, that keeps at most limit bytes (0: no limit); bytes
// written beyond the limit are dropped. A file that holds data is refused:
// a log is never written twice.
func Create(path string, limit int64) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create output log: %w", err)
	}
	if info, err := f.Stat(); err != nil || info.Size() != 0 {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s already holds %d bytes", path, info.Size())
		}
		return nil, fmt.Errorf("create output log: %w", err)
	}
	return &Log{path: path, file: f, limit: limit, wake: make(chan struct{})}, nil
}

// OpenComplete opens the log left at path by an earlier run of the server:
// it takes no more writes and its readers get what the file holds. A
// missing file is an empty log.
func OpenComplete(path string, truncated bool) (*Log, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("recreate output log: %w", err)
		}
		f.Close()
	case err != nil:
		return nil, fmt.Errorf("open output log: %w", err)
	}
	l := &Log{path: path, truncated: truncated, complete: true, wake: make(chan struct{})}
	if info != nil {
		l.size = info.Size()
	}
	return l, nil
}

// Write appends p, up to the log's limit, and wakes the readers. It always
// reports len(p) written unless the file cannot be written, so that the job
// is never blocked or failed by a full log. It must not be called
// concurrently with itself or after Complete.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	keep := int64(len(p))
	if l.limit > 0 && l.size+keep > l.limit {
		keep = max(l.limit-l.size, 0)
		l.truncated = true
	}
	l.mu.Unlock()
	if keep == 0 {
		return len(p), nil
	}
	n, err := l.file.Write(p[:keep])
	l.mu.Lock()
	l.size += int64(n)
	// What could not be written is lost: the log says it is incomplete.
	l.truncated = l.truncated || err != nil
	l.broadcastLocked()
	l.mu.Unlock()
	if err != nil {
		return n, fmt.Errorf("append to output log: %w", err)
	}
	return len(p), nil
}

// ReadFrom copies r into the log until r ends. It does not complete the
// log: the owner does, once whatever readers should see at the end (the
// job's final status) is recorded. A failing disk does not stop the copy:
// the job's pipe is drained to its end so that the job never blocks, and
// the first write error is returned.
func (l *Log) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, copyBufferSize)
	var total int64
	var writeErr error
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if writeErr == nil {
				_, writeErr = l.Write(buf[:n])
			}
		}
		if errors.Is(err, io.EOF) {
			return total, writeErr
		}
		if err != nil {
			return total, errors.Join(fmt.Errorf("read job output: %w", err), writeErr)
		}
	}
}

// Complete marks the log complete: readers end once they have read it all.
// It is idempotent.
func (l *Log) Complete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.complete {
		return nil
	}
	l.complete = true
	l.broadcastLocked()
	if err := l.file.Close(); err != nil {
		return fmt.Errorf("close output log: %w", err)
	}
	l.file = nil
	return nil
}

// Size is the number of bytes kept so far.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Truncated reports whether bytes were dropped, because of the limit or
// because the file could not be written.
func (l *Log) Truncated() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncated
}

// IsComplete reports whether the log takes no more writes.
func (l *Log) IsComplete() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.complete
}

func (l *Log) broadcastLocked() {
	if l.waiting {
		close(l.wake)
		l.wake = make(chan struct{})
		l.waiting = false
	}
}

// Reader follows a Log from an offset. It is not safe for concurrent use;
// different Readers of one Log are independent.
type Reader struct {
	log    *Log
	file   *os.File
	offset int64
}

// NewReader returns a Reader starting at offset. The caller must Close it.
func (l *Log) NewReader(offset int64) (*Reader, error) {
	if offset < 0 {
		return nil, fmt.Errorf("negative offset %d", offset)
	}
	l.mu.Lock()
	complete, size := l.complete, l.size
	l.mu.Unlock()
	if complete && offset > size {
		return nil, fmt.Errorf("%w: offset %d, size %d", ErrOffsetOutOfRange, offset, size)
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("open output log: %w", err)
	}
	return &Reader{log: l, file: f, offset: offset}, nil
}

// Offset is the offset of the next byte Read returns.
func (r *Reader) Offset() int64 { return r.offset }

// Read reads the next bytes, waiting while there are none yet. It returns
// io.EOF once the log is complete and every byte has been read, and
// ctx.Err() when ctx ends while waiting.
func (r *Reader) Read(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	size, err := r.Wait(ctx)
	if err != nil {
		return 0, err
	}
	want := min(int64(len(p)), size-r.offset)
	n, err := r.file.ReadAt(p[:want], r.offset)
	r.offset += int64(n)
	if n > 0 {
		return n, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read output log: %w", err)
	}
	// The file is shorter than recorded (changed behind our back): report
	// the end rather than spin.
	return 0, io.EOF
}

// Wait blocks until there are bytes to read and returns the log's size
// then; it returns io.EOF once the log is complete and every byte has been
// read, and ctx.Err() when ctx ends first. A caller can wait without
// holding a buffer, and take one only when Read has something to give.
func (r *Reader) Wait(ctx context.Context) (int64, error) {
	for {
		l := r.log
		l.mu.Lock()
		size, complete, wake := l.size, l.complete, l.wake
		if r.offset >= size && !complete {
			l.waiting = true
		}
		l.mu.Unlock()
		switch {
		case r.offset < size:
			return size, nil
		case complete:
			return size, io.EOF
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return size, ctx.Err()
		}
	}
}

// Close releases the Reader's file descriptor.
func (r *Reader) Close() error { return r.file.Close() }
