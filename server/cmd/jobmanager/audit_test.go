package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobmanager/jobmanager/jobexec/jobexectest"
	"github.com/jobmanager/jobmanager/server/servertest"
)

// SummaryEnv names the file TestTLSAudit writes its Markdown summary to
// (`go tool task audit-tls` sets it to docs/tls-audit.md).
const summaryEnv = "JOBMANAGER_TLS_AUDIT_SUMMARY"

// acceptedFindings are testssl.sh findings above INFO that are expected of
// a deployment with its own private CA, with the reason.
var acceptedFindings = map[string]string{
	"cert_revocation": "the private CA publishes no CRL or OCSP responder; revocation is done by reissuing the CA for a development set",
	"DNS_CAArecord":   "the server is addressed by IP on loopback: there is no DNS name to hold a CAA record",
	"engine_problem":  "a property of the local openssl build (no GOST engine), not of the server",
	"optimal_proto":   "the server requires a client certificate, which testssl 3.0 cannot present, so its openssl probe cannot finish a handshake; the protocol, suite and vulnerability checks run on their own sockets and are judged above",
}

// tls13Suites are the only cipher suites the server may offer.
var tls13Suites = []string{"cipher_x1301", "cipher_x1302", "cipher_x1303"}

type finding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestTLSAudit runs testssl.sh (Debian's testssl.sh package; .ci/run
// installs it) against the real server and fails on any protocol below TLS
// 1.3, any suite that is not a TLS 1.3 AEAD suite, or any finding above
// INFO that is not accepted above.
func TestTLSAudit(t *testing.T) {
	testssl, err := exec.LookPath("testssl")
	if err != nil {
		jobexectest.Unavailable(t, "testssl is not installed (apt-get install testssl.sh; .ci/run does)")
	}
	s := servertest.Start(t, binDir, servertest.NewCerts(t))
	jsonFile := filepath.Join(t.TempDir(), "testssl.json")
	cmd := exec.Command(testssl, "--quiet", "--color", "0", "--warnings", "off", "--add-ca", filepath.Join(s.Certs.Dir, "ca.crt"),
		"--protocols", "--std", "--each-cipher", "--server-defaults", "--vulnerable", "--jsonfile", jsonFile, s.Addr)
	out, _ := cmd.CombinedOutput() // its exit status counts findings; the JSON is judged below
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatalf("testssl wrote no JSON: %v\n%s", err, out)
	}
	var findings []finding
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatal(err)
	}
	byID := map[string]finding{}
	for _, f := range findings {
		byID[f.ID] = f
	}
	for _, proto := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2"} {
		if f, ok := byID[proto]; !ok || !strings.Contains(f.Finding, "not offered") {
			t.Errorf("protocol %s: %q, want not offered", proto, f.Finding)
		}
	}
	if f := byID["TLS1_3"]; !strings.HasPrefix(f.Finding, "offered") {
		t.Errorf("TLS 1.3: %q, want offered", f.Finding)
	}
	var suites []string
	for _, f := range findings {
		if strings.HasPrefix(f.ID, "cipher_x") {
			suites = append(suites, f.ID)
			if !slices.Contains(tls13Suites, f.ID) {
				t.Errorf("suite %s offered: %s", f.ID, f.Finding)
			}
		}
	}
	if len(suites) == 0 {
		t.Error("testssl found no cipher suite at all")
	}
	var problems []finding
	for _, f := range findings {
		switch f.Severity {
		case "OK", "INFO", "DEBUG":
			continue
		}
		if _, ok := acceptedFindings[f.ID]; ok {
			continue
		}
		problems = append(problems, f)
		t.Errorf("testssl finding %s (%s): %s", f.ID, f.Severity, f.Finding)
	}
	if path := os.Getenv(summaryEnv); path != "" {
		if err := os.WriteFile(path, []byte(auditSummary(byID, suites)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if t.Failed() {
		t.Logf("testssl output:\n%s", out)
	}
}

// auditSummary renders the findings that matter as Markdown.
func auditSummary(byID map[string]finding, suites []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TLS audit\n\n`go tool task audit-tls` runs testssl.sh (Debian's package) against a\n"+
		"JobManager server with a certificate set made for the run, and fails on any\nprotocol below TLS 1.3, any suite that is not a TLS 1.3 AEAD suite, or any\n"+
		"finding above INFO other than the accepted ones below. The same check runs in\nthe test suite (TestTLSAudit). Last run: %s.\n\n", time.Now().UTC().Format("2006-01-02"))
	b.WriteString("## Protocols\n\n| protocol | finding |\n| --- | --- |\n")
	for _, id := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "ALPN_HTTP2"} {
		fmt.Fprintf(&b, "| %s | %s |\n", id, byID[id].Finding)
	}
	b.WriteString("\n## Cipher suites offered\n\n")
	for _, id := range suites {
		fmt.Fprintf(&b, "- %s\n", strings.Join(strings.Fields(byID[id].Finding), " "))
	}
	b.WriteString("\n## Vulnerabilities\n\n| check | severity | finding |\n| --- | --- | --- |\n")
	for _, id := range []string{"heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"} {
		if f, ok := byID[id]; ok {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", id, f.Severity, f.Finding)
		}
	}
	b.WriteString("\n## Certificate\n\n| check | finding |\n| --- | --- |\n")
	for _, id := range []string{"cert_signatureAlgorithm", "cert_keySize", "cert_extKeyUsage", "cert_chain_of_trust", "cert_trust"} {
		fmt.Fprintf(&b, "| %s | %s |\n", id, byID[id].Finding)
	}
	b.WriteString("\n## Accepted findings\n\n")
	for _, id := range []string{"cert_revocation", "DNS_CAArecord", "engine_problem", "optimal_proto"} {
		if f, ok := byID[id]; ok {
			fmt.Fprintf(&b, "- `%s` (%s, %q): %s.\n", id, f.Severity, f.Finding, acceptedFindings[id])
		}
	}
	return b.String()
}
