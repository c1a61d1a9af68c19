"""`flask --app wsgi sso configure|check`: set up a company's OpenID Connect sign-in."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from portal.companies.queries import company_by_slug
from portal.core import tenancy
from portal.core.db import db
from portal.core.errors import DomainError
from portal.sso import services
from portal.sso.models import SsoMode

sso_cli = AppGroup("sso", help="Single sign-on (OpenID Connect) per company.")


@sso_cli.command("configure")
@click.option("--company", "slug", required=True, help="The company's short name (slug).")
@click.option("--issuer", required=True, help="The provider's issuer URL (discovery base).")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret-env",
    default="SSO_CLIENT_SECRET",
    show_default=True,
    help="Environment variable holding the client secret (never a flag).",
)
@click.option("--domains", required=True, help="Email domains that sign in here, comma-separated.")
@click.option(
    "--mode", type=click.Choice([m.value for m in SsoMode]), default="optional", show_default=True
)
def configure(
    slug: str, issuer: str, client_id: str, client_secret_env: str, domains: str, mode: str
) -> None:
    """Create or update a company's SSO connection, after checking the provider answers."""
    with tenancy.unscoped():
        company = company_by_slug(slug)
        if company is None:
            raise click.ClickException(f"No company with the short name {slug!r}.")
        try:
            services.check_discovery(issuer)
            services.configure(
                company,
                issuer=issuer,
                client_id=client_id,
                client_secret=os.environ.get(client_secret_env) or None,
                allowed_domains=domains,
                mode=SsoMode(mode),
                actor_user_id=None,
                by_operator=True,
            )
        except DomainError as error:
            raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(
        f"SSO configured for {company.name}: {issuer} ({mode}). Redirect URI: "
        "<portal base URL>/login/sso/callback"
    )


@sso_cli.command("check")
@click.argument("issuer")
def check(issuer: str) -> None:
    """Fetch a provider's discovery document and say precisely what is wrong with it."""
    try:
        metadata = services.check_discovery(issuer)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"{metadata['issuer']}: discovery document is usable.")
