package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteDevSetMakesVerifiableChains(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	caKey := filepath.Join(dir, "ca-private", "ca.key")
	if err := WriteDevSet(certDir, caKey, []string{"client1", "administrator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(certDir, "ca.key")); !os.IsNotExist(err) {
		t.Fatalf("CA key must not be in the cert dir: stat err=%v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	tests := []struct {
		name  string
		usage x509.ExtKeyUsage
		other x509.ExtKeyUsage
	}{
		{"server", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		{"client1", x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		{"administrator", x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(filepath.Join(certDir, tt.name+".crt"), filepath.Join(certDir, tt.name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			leaf := pair.Leaf
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Fatalf("verify for its own usage: %v", err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.other}}); err == nil {
				t.Fatal("certificate verifies for the other usage too")
			}
			if tt.name != "server" && leaf.Subject.CommonName != tt.name {
				t.Fatalf("CN = %q, want %q", leaf.Subject.CommonName, tt.name)
			}
			info, err := os.Stat(filepath.Join(certDir, tt.name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Fatalf("key mode %v, want 0600", info.Mode().Perm())
			}
		})
	}
	authority, err := LoadAuthority(filepath.Join(certDir, "ca.crt"), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if !authority.Cert.IsCA {
		t.Fatal("loaded authority is not a CA")
	}
}

func TestServerCertificateNames(t *testing.T) {
	ca, err := NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.IssueServer()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(issued.CertPEM, issued.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := pair.Leaf.VerifyHostname(host); err != nil {
			t.Errorf("host %s: %v", host, err)
		}
	}
	if got := pair.Leaf.NotAfter.Sub(time.Now()); got < DefaultValidity-time.Hour {
		t.Errorf("validity %v, want about %v", got, DefaultValidity)
	}
}
