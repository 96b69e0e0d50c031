// Package devcert makes the certificates of a development or test
// deployment: a self-signed ECDSA certificate authority, a server certificate
// and client certificates whose CommonName is the user's identity.
//
// It is used by `go tool task certs` (through gen.go) and by the tests, which
// make their own authorities so that nothing depends on files on disk.
// Production deployments should use a real certificate authority.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultValidity is how long certificates made by this package are valid.
const DefaultValidity = 365 * 24 * time.Hour

// Authority is a certificate authority that can issue certificates.
type Authority struct {
	// Cert is the authority's self-signed certificate.
	Cert *x509.Certificate
	// Key is the authority's private key.
	Key *ecdsa.PrivateKey
}

// Spec describes a certificate to issue. The zero values of the optional
// fields give a certificate valid from now for DefaultValidity.
type Spec struct {
	// CommonName is the subject's CN. Empty leaves the CN out.
	CommonName string
	// ExtraCommonNames adds more CN attributes to the subject (tests of
	// identities that are ambiguous).
	ExtraCommonNames []string
	// ExtKeyUsage lists the extended key usages, such as
	// x509.ExtKeyUsageClientAuth.
	ExtKeyUsage []x509.ExtKeyUsage
	// DNSNames and IPAddresses are the subject alternative names.
	DNSNames    []string
	IPAddresses []net.IP
	// NotBefore and NotAfter bound the validity; zero means now and
	// now+DefaultValidity.
	NotBefore, NotAfter time.Time
}

// Issued is a certificate and its private key, both PEM-encoded.
type Issued struct {
	// CertPEM is the certificate.
	CertPEM []byte
	// KeyPEM is the PKCS #8 private key.
	KeyPEM []byte
}

// NewAuthority makes a self-signed P-384 certificate authority named name.
func NewAuthority(name string) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(DefaultValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// LoadAuthority reads an authority written by WriteAuthority.
func LoadAuthority(certFile, keyFile string) (*Authority, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("CA files %s, %s: no PEM data", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA key: %w", err)
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("CA key %s is not an ECDSA key", keyFile)
	}
	return &Authority{Cert: cert, Key: ecKey}, nil
}

// CertPEM returns the authority's certificate, PEM-encoded.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}

// KeyPEM returns the authority's private key, PEM-encoded (PKCS #8).
func (a *Authority) KeyPEM() ([]byte, error) {
	return marshalKey(a.Key)
}

// Issue makes a P-256 key and a certificate for it, signed by the authority.
func (a *Authority) Issue(spec Spec) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Issued{}, err
	}
	notBefore, notAfter := spec.NotBefore, spec.NotAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Minute)
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(DefaultValidity)
	}
	subject := pkix.Name{CommonName: spec.CommonName}
	// An ExtraNames entry replaces the CommonName field when marshalled, so
	// a subject with several CNs lists them all there.
	if len(spec.ExtraCommonNames) > 0 {
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{Type: []int{2, 5, 4, 3}, Value: spec.CommonName})
	}
	for _, cn := range spec.ExtraCommonNames {
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{
			Type: []int{2, 5, 4, 3}, Value: cn,
		})
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.ExtKeyUsage,
		BasicConstraintsValid: true,
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPAddresses,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, &key.PublicKey, a.Key)
	if err != nil {
		return Issued{}, fmt.Errorf("create certificate for %q: %w", spec.CommonName, err)
	}
	keyPEM, err := marshalKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
	}, nil
}

// IssueServer issues a server certificate (serverAuth only) for localhost,
// 127.0.0.1 and ::1.
func (a *Authority) IssueServer() (Issued, error) {
	return a.Issue(Spec{
		CommonName:  "jobmanager",
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	})
}

// IssueClient issues a client certificate (clientAuth only) for user.
func (a *Authority) IssueClient(user string) (Issued, error) {
	return a.Issue(Spec{
		CommonName:  user,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// WriteFiles writes the certificate and key as dir/name.crt and
// dir/name.key; the key is readable by its owner only.
func (i Issued) WriteFiles(dir, name string) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), i.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), i.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

// WriteDevSet writes a complete development set: certDir receives ca.crt,
// server.crt/.key and a .crt/.key pair for each user; the CA's key goes to
// caKeyFile, outside certDir, so the server never reads it.
func WriteDevSet(certDir, caKeyFile string, users []string) error {
	ca, err := NewAuthority("JobManager development CA")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return fmt.Errorf("create cert dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(caKeyFile), 0o700); err != nil {
		return fmt.Errorf("create CA key dir: %w", err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(caKeyFile, caKey, 0o600); err != nil {
		return fmt.Errorf("write CA key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "ca.crt"), ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	server, err := ca.IssueServer()
	if err != nil {
		return err
	}
	if err := server.WriteFiles(certDir, "server"); err != nil {
		return err
	}
	for _, user := range users {
		client, err := ca.IssueClient(user)
		if err != nil {
			return err
		}
		if err := client.WriteFiles(certDir, user); err != nil {
			return err
		}
	}
	return nil
}

func marshalKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

// Pool returns a certificate pool holding only the authority.
func (a *Authority) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(a.Cert)
	return pool
}
