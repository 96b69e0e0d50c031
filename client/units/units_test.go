package units

import "testing"

func TestParseBytes(t *testing.T) {
	good := map[string]int64{
		"4096": 4096, "0": 0, "512MiB": 512 << 20, "512mib": 512 << 20, "20MB": 20e6, "1G": 1 << 30,
		"1.5GiB": 1536 << 20, "64k": 64 << 10, "2kB": 2000, "3 MiB": 3 << 20, "1TiB": 1 << 40, "7B": 7,
	}
	for in, want := range good {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.2.3", "12XB", "0.5", "1e3", "99999999TiB", "NaN"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 512 << 20: "512MiB", 1536 << 20: "1536MiB", 1 << 30: "1GiB", 1000: "1000B", 20e6: "20000000B"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, seed := range []string{"512MiB", "1.5G", "20MB", "", "-3", "9e99"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		if err == nil {
			if back, err := ParseBytes(FormatBytes(n)); err != nil || back != n {
				t.Fatalf("round trip of %d: %d, %v", n, back, err)
			}
		}
	})
}
