"""Server-side identity: bearer tokens (HS256 / ES256), JWKS, the platform's signing key,
TLS files and contexts, and the local certificate authority."""
