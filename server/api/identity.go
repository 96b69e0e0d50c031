package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/jobmanager/jobmanager/server/job"
)

// maxCommonNameLength is X.509's upper bound for a CommonName.
const maxCommonNameLength = 64

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}

type identityKey struct{}

// identity is the result of authenticating a request: a caller, or why
// there is none.
type identity struct {
	caller job.Caller
	err    error
}

// WithIdentity is the HTTP middleware that authenticates every request by
// its verified client certificate and puts the result on the context, where
// the interceptor of the service (see authenticate) requires it.
func WithIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := Identify(r.TLS)
		ctx := context.WithValue(r.Context(), identityKey{}, identity{caller: caller, err: err})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Identify returns the caller a TLS connection authenticates: the one
// CommonName of the verified leaf certificate, which must be meant for
// client authentication.
func Identify(state *tls.ConnectionState) (job.Caller, error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", errors.New("no verified client certificate")
	}
	leaf := state.VerifiedChains[0][0]
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "", errors.New("the certificate is not for client authentication (extended key usage clientAuth)")
	}
	var names []string
	for _, attr := range leaf.Subject.Names {
		if attr.Type.Equal(oidCommonName) {
			name, _ := attr.Value.(string)
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("the certificate must carry exactly one CommonName, it has %d", len(names))
	}
	name := names[0]
	if name == "" || len(name) > maxCommonNameLength || !utf8.ValidString(name) || !isPrintable(name) {
		return "", errors.New("the certificate's CommonName is not a usable user name")
	}
	return job.Caller(name), nil
}

func isPrintable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// callerFrom returns the authenticated caller of a request.
func callerFrom(ctx context.Context) (job.Caller, error) {
	id, ok := ctx.Value(identityKey{}).(identity)
	if !ok {
		return "", errors.New("request did not pass the identity middleware")
	}
	return id.caller, id.err
}
