package jobexec

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair returns the server's end (non-blocking, as controlSocket
// makes it) and the helper's descriptor.
func socketPair(t *testing.T) (*os.File, int) {
	t.Helper()
	server, helper, err := controlSocket()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); helper.Close() })
	return server, int(helper.Fd())
}

func TestAssignmentCarriesTheJobAndItsOutput(t *testing.T) {
	server, helper := socketPair(t)
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	defer outR.Close()
	defer errR.Close()
	want := assignment{
		CgroupProcs: []string{"/sys/fs/cgroup/pids/x/cgroup.procs"},
		User:        &User{UID: 65534, GID: 65534},
		Program:     "/bin/echo",
		Args:        []string{"a b", strings.Repeat("x", 300<<10)}, // more than a socket buffer
		Env:         []string{"PATH=/bin"},
	}
	sent := make(chan error, 1)
	go func() { sent <- sendAssignment(server, want, outW, errW) }()
	got, stdout, stderr, err := receiveAssignment(helper)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	outW.Close()
	errW.Close()
	for _, c := range []struct {
		w *os.File
		r *os.File
	}{{stdout, outR}, {stderr, errR}} {
		if _, err := c.w.WriteString("through"); err != nil {
			t.Fatal(err)
		}
		c.w.Close()
		if data, _ := io.ReadAll(c.r); string(data) != "through" {
			t.Fatalf("read %q from the received descriptor's pipe", data)
		}
	}
}

func TestClosedControlSocketMeansNoJob(t *testing.T) {
	server, helper := socketPair(t)
	server.Close()
	if _, _, _, err := receiveAssignment(helper); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

func TestMalformedAssignmentsAreRefused(t *testing.T) {
	header := func(size uint32) []byte { return binary.BigEndian.AppendUint32(nil, size) }
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	two := unix.UnixRights(int(devNull.Fd()), int(devNull.Fd()))
	cases := []struct {
		name   string
		first  []byte
		rights []byte
		rest   string
		want   string
	}{
		{"no descriptors", header(2), nil, "{}", "got 0 descriptors"},
		{"one descriptor", header(2), unix.UnixRights(int(devNull.Fd())), "{}", "got 1 descriptors"},
		{"over the limit", header(maxAssignmentSize + 1), two, "", "over the"},
		{"not JSON", header(3), two, "abc", "decode job"},
		{"no program", header(2), two, "{}", "no program"},
		{"cut short", header(10), two, "{}", "receive job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server, helper := socketPair(t)
			if err := unix.Sendmsg(int(server.Fd()), c.first, c.rights, nil, 0); err != nil {
				t.Fatal(err)
			}
			server.WriteString(c.rest)
			server.Close()
			_, _, _, err := receiveAssignment(helper)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
