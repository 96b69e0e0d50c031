// Command jobmanager is a JobManager binary; its behaviour arrives with the issues
// that build it.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "jobmanager: not built yet")
	os.Exit(1)
}
