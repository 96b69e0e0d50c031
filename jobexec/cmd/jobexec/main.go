// Command jobexec is a JobManager binary; its behaviour arrives with the issues
// that build it.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "jobexec: not built yet")
	os.Exit(1)
}
