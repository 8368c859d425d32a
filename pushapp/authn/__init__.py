"""Verifying credentials that other systems issue: JSON Web Tokens (``JWTAuthenticator``, the ``jwt``
extra). PyJWT is imported only when a token is verified, so pushapp works without it."""
