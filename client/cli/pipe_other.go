//go:build !linux

package cli

import "io"

// widenPipe does nothing where pipes cannot be resized.
func widenPipe(io.Writer) {}
