// Package units parses and prints the human sizes of jobctl's and the
// server's flags: "512MiB", "20MB", "1.5G", "4096".
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// suffixes maps a unit to its multiplier. Binary units (KiB, MiB, ...) and
// their one-letter forms (K, M, ...) are powers of 1024, as in ls -h and
// Docker; SI units (kB, MB, ...) are powers of 1000. Case is ignored.
var suffixes = map[string]float64{
	"":  1,
	"b": 1,
	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseBytes parses a size such as "512MiB", "20MB", "1.5G" or "4096" into
// bytes. Fractions are allowed when the result is a whole number of bytes.
func ParseBytes(s string) (int64, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, errors.New("empty size")
	}
	i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	number, unit := text, ""
	if i >= 0 {
		number, unit = text[:i], strings.TrimSpace(text[i:])
	}
	mult, ok := suffixes[strings.ToLower(unit)]
	if !ok || number == "" {
		return 0, fmt.Errorf("invalid size %q: use a number with an optional unit such as 512MiB, 20MB or 1G", s)
	}
	v, err := strconv.ParseFloat(number, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	bytes := v * mult
	if bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if bytes != math.Trunc(bytes) {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return int64(bytes), nil
}

// FormatBytes prints n with the largest binary unit that divides it
// exactly ("512MiB", "1.5GiB" is printed as "1536MiB"), or in bytes.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
