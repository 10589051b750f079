package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The tokens' audience, the scopes the shop's clients get, and the
// processor's.
const (
	audience     = "orderflow"
	scopeWrite   = "orders:write"
	scopeRead    = "orders:read"
	scopeProcess = "orders:process"
	issuerKeyID  = "orderflow-1"
)

// issuer is the shop's identity provider, as small as one can be: an RSA
// key, its public half served as a JWKS on loopback (GET /jwks.json) for the
// gateway to verify tokens with, and tokens minted for the shop's clients.
type issuer struct {
	key    *rsa.PrivateKey
	server *server
}

func startIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	iss := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": issuerKeyID, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	if iss.server, err = serve(mux); err != nil {
		return nil, err
	}
	return iss, nil
}

// url is the issuer's "iss", and the base of its JWKS URL.
func (i *issuer) url() string { return i.server.url }

// claims are a token's claims for client sub with scopes, valid for ttl
// (negative: expired that long ago).
func (i *issuer) claims(sub string, ttl time.Duration, scopes ...string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": i.url(), "aud": audience, "sub": sub, "scope": strings.Join(scopes, " "),
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
}

// sign signs claims with the issuer's key (RS256, with its key id).
func (i *issuer) sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = issuerKeyID
	return t.SignedString(i.key)
}

// token mints a client's token: both scopes, valid for an hour.
func (i *issuer) token(sub string) (string, error) {
	return i.sign(i.claims(sub, time.Hour, scopeWrite, scopeRead))
}

// forgeries are tokens an attacker could make, or an old one a client
// still holds, for client sub; the gateway must refuse every one. The
// names say what is wrong with each.
func (i *issuer) forgeries(sub string) (map[string]string, error) {
	out := map[string]string{}
	var err error
	if out["expired token"], err = i.sign(i.claims(sub, -time.Hour, scopeWrite, scopeRead)); err != nil {
		return nil, err
	}
	wrongAud := i.claims(sub, time.Hour, scopeWrite, scopeRead)
	wrongAud["aud"] = "another-api"
	if out["wrong audience"], err = i.sign(wrongAud); err != nil {
		return nil, err
	}
	if out["no orders:write scope"], err = i.sign(i.claims(sub, time.Hour, scopeRead)); err != nil {
		return nil, err
	}
	// alg none: no signature at all.
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + issuerKeyID + `"}`))
	payload, err := json.Marshal(i.claims(sub, time.Hour, scopeWrite, scopeRead))
	if err != nil {
		return nil, err
	}
	out["alg none"] = header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	// Key confusion: HS256 with the issuer's public key (which anyone can
	// fetch) as the HMAC secret, for a verifier that would take the alg
	// from the token.
	der, err := x509.MarshalPKIXPublicKey(&i.key.PublicKey)
	if err != nil {
		return nil, err
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, i.claims(sub, time.Hour, scopeWrite, scopeRead))
	hs.Header["kid"] = issuerKeyID
	if out["HS256 signed with the public key"], err = hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
		return nil, err
	}
	// A key of the attacker's own, under the issuer's key id.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ot := jwt.NewWithClaims(jwt.SigningMethodRS256, i.claims(sub, time.Hour, scopeWrite, scopeRead))
	ot.Header["kid"] = issuerKeyID
	if out["signed by another key"], err = ot.SignedString(other); err != nil {
		return nil, err
	}
	return out, nil
}

func (i *issuer) close() { i.server.close() }
