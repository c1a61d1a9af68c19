"""Single sign-on through OpenID Connect, configured per company."""
