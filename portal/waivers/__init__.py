"""Lien waivers: the statutory forms word for word, generated for each submitted invoice,
signed electronically once, and verifiable by anyone holding the signed document."""
