//go:build ignore

// gen writes the development certificates: `go run ./server/devcert/gen.go`
// (what `go tool task certs` runs). It is excluded from `go build ./...` so
// that the build produces only the three product binaries.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jobmanager/jobmanager/server/devcert"
)

func main() {
	certDir := flag.String("certDir", devcert.DefaultDir(), "where ca.crt, server.* and the users' pairs go")
	caKey := flag.String("caKey", "", "where the CA key goes (default: ca-private/ca.key beside certDir)")
	users := flag.String("users", "client1,client2,administrator", "comma-separated client identities")
	flag.Parse()
	if *caKey == "" {
		*caKey = filepath.Join(filepath.Dir(*certDir), "ca-private", "ca.key")
	}
	if err := devcert.WriteDevSet(*certDir, *caKey, strings.Split(*users, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "devcert:", err)
		os.Exit(1)
	}
	fmt.Printf("certificates in %s, CA key in %s\n", *certDir, *caKey)
}
