package job

import (
	"os"
	"path/filepath"
	"unicode"
	"unicode/utf8"
)

// Request bounds.
const (
	// MaxNameLength is the longest job name, in characters.
	MaxNameLength = 128
	// MaxArguments is the most arguments a program may be given.
	MaxArguments = 4096
	// MaxArgumentBytes bounds the total size of the arguments, well under
	// the kernel's ARG_MAX.
	MaxArgumentBytes = 1 << 20
)

// StartRequest describes a job to start.
type StartRequest struct {
	// Name is the caller's name for the job.
	Name string
	// ProgramPath is the absolute path of the program.
	ProgramPath string
	// Arguments are passed to the program after argv[0].
	Arguments []string
	// Limits override the server's defaults (0 fields take the default).
	Limits Limits
}

// validate checks everything about the request that can be checked before
// anything is created.
func (r StartRequest) validate() error {
	if err := validateName(r.Name); err != nil {
		return err
	}
	if err := validateProgram(r.ProgramPath); err != nil {
		return err
	}
	if len(r.Arguments) > MaxArguments {
		return invalidArgument("too many arguments: %d, at most %d", len(r.Arguments), MaxArguments)
	}
	total := 0
	for i, arg := range r.Arguments {
		total += len(arg) + 1
		if !utf8.ValidString(arg) || containsNUL(arg) {
			return invalidArgument("argument %d is not valid UTF-8 text without NUL bytes", i+1)
		}
	}
	if total > MaxArgumentBytes {
		return invalidArgument("arguments are %d bytes, at most %d", total, MaxArgumentBytes)
	}
	return nil
}

func validateName(name string) error {
	switch {
	case name == "":
		return invalidArgument("job name is required")
	case !utf8.ValidString(name):
		return invalidArgument("job name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return invalidArgument("job name is longer than %d characters", MaxNameLength)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return invalidArgument("job name contains the non-printable character %U", r)
		}
	}
	return nil
}

func validateProgram(path string) error {
	switch {
	case path == "":
		return invalidArgument("program path is required")
	case !utf8.ValidString(path) || containsNUL(path):
		return invalidArgument("program path is not valid text")
	case !filepath.IsAbs(path):
		return invalidArgument("program path %q is not absolute", path)
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return invalidArgument("program %s does not exist or cannot be reached", path)
	case !info.Mode().IsRegular():
		return invalidArgument("program %s is not a regular file", path)
	case info.Mode().Perm()&0o111 == 0:
		return invalidArgument("program %s is not executable", path)
	}
	return nil
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}
