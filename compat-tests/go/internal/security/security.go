// Package security holds the TLS and SASL flags the compat-tests/go programs share:
//
//	-tls-ca CA.pem [-tls-cert CERT.pem -tls-key KEY.pem]   TLS (and a client certificate)
//	-sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|OAUTHBEARER
//	-sasl-user U -sasl-password P | -sasl-token JWT
//
// Each program maps them onto its client's own options.
package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"os"
)

var (
	CA        = flag.String("tls-ca", "", "TLS: the CA certificate (PEM) that signed the broker's; TLS is on when set")
	Cert      = flag.String("tls-cert", "", "TLS: a client certificate (PEM)")
	Key       = flag.String("tls-key", "", "TLS: the client certificate's key (PEM)")
	Mechanism = flag.String("sasl-mechanism", "", "SASL mechanism; SASL is on when set")
	User      = flag.String("sasl-user", "", "SASL user (PLAIN, SCRAM)")
	Password  = flag.String("sasl-password", "", "SASL password (PLAIN, SCRAM)")
	Token     = flag.String("sasl-token", "", "OAUTHBEARER token")
)

// TLSConfig is the TLS config the flags ask for, or nil without -tls-ca.
func TLSConfig() (*tls.Config, error) {
	if *CA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(*CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + *CA)
	}
	config := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if *Cert != "" {
		pair, err := tls.LoadX509KeyPair(*Cert, *Key)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}
