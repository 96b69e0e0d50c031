package job

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzValidate checks that validation never panics, that every accepted
// name is printable text of bounded length, and that every refusal is an
// InvalidArgument with a message.
func FuzzValidate(f *testing.F) {
	f.Add("build", "/bin/true", "arg", 1.0, int64(0))
	f.Add("", "", "", 0.0, int64(-1))
	f.Add("a\x00b", "relative/path", "\x00", -1.0, int64(1<<62))
	f.Add(strings.Repeat("é", 129), "/bin/../bin/true", "x", 0.005, int64(4096))
	f.Fuzz(func(t *testing.T, name, path, arg string, cpus float64, memory int64) {
		req := StartRequest{Name: name, ProgramPath: path, Arguments: []string{arg}, Limits: Limits{CPUs: cpus, MemoryBytes: memory}}
		err := req.validate()
		if err == nil {
			if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength || name == "" {
				t.Fatalf("accepted name %q", name)
			}
			for _, r := range name {
				if !unicode.IsPrint(r) {
					t.Fatalf("accepted non-printable name %q", name)
				}
			}
			if !strings.HasPrefix(path, "/") || strings.ContainsRune(arg, 0) {
				t.Fatalf("accepted path %q arg %q", path, arg)
			}
		} else if CodeOf(err) != CodeInvalidArgument || MessageOf(err) == "" {
			t.Fatalf("refusal %v is not an InvalidArgument with a message", err)
		}
		limits, err := DefaultLimitPolicy(2, 8<<30).effective(req.Limits)
		if err == nil && (limits.CPUs < 0.01 || limits.CPUs > 2 || limits.MemoryBytes < 4<<20 || limits.MemoryBytes > 8<<30) {
			t.Fatalf("accepted limits %+v", limits)
		}
		if err != nil && CodeOf(err) != CodeInvalidArgument {
			t.Fatalf("limit refusal %v is not an InvalidArgument", err)
		}
	})
}

func TestLimitPolicyAppliesDefaultsAndMaxima(t *testing.T) {
	p := LimitPolicy{Default: Limits{CPUs: 1, MemoryBytes: 64 << 20}, Max: Limits{CPUs: 2, IOWriteBPS: 10 << 20}}
	got, err := p.effective(Limits{MemoryBytes: 128 << 20, IOWriteBPS: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{CPUs: 1, MemoryBytes: 128 << 20, IOWriteBPS: 1 << 20}); got != want {
		t.Fatalf("effective %+v, want %+v", got, want)
	}
	if _, err := p.effective(Limits{IOWriteBPS: 11 << 20}); err == nil {
		t.Fatal("io over the maximum accepted")
	}
}
