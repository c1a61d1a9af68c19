"""A real OpenID Connect provider (node ``oidc-provider``) as a test peer.

The node side lives in ``tests/peers/oidc/`` (``server.js``, pinned by ``package-lock.json``).
Typical fixture::

    ensure_installed()
    provider = OidcProvider()
    provider.start(
        clients=[{"client_id": "trestle", "client_secret": "s3cret",
                  "redirect_uris": ["http://127.0.0.1:5000/auth/oidc/callback"]}],
        accounts=[{"sub": "u-1", "email": "ann@example.com", "email_verified": True,
                   "name": "Ann Example"}],
    )
    ...  # point the app at provider.issuer / provider.metadata_url
    callback_url = provider.follow_login(authorization_url, login_hint="ann@example.com")
    provider.set_mode("wrong_nonce")  # tamper the id_token of the following token responses
    provider.stop()

There is no login UI: the provider logs in the account whose email or sub equals the
``login_hint`` authorization parameter and grants the requested scopes automatically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

PEER_DIR = Path(__file__).resolve().parent / "oidc"
MODES = (
    "normal",
    "wrong_issuer",
    "other_key",
    "wrong_nonce",
    "wrong_audience",
    "expired",
    "alg_none",
    "hs256",
    "rotated_key",
    "unknown_kid",
)
READY_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0
_REDIRECTS = {301, 302, 303, 307, 308}


class OidcPeerUnavailable(RuntimeError):
    """node/npm are missing or the npm packages could not be installed."""


def ensure_installed() -> None:
    """Install the OIDC peer's npm packages (see ensure_npm_packages)."""
    ensure_npm_packages(PEER_DIR)


def ensure_npm_packages(peer_dir: Path) -> None:
    """Run ``npm ci`` in ``peer_dir`` unless node_modules is present and up to date.

    Safe to call from several pytest-xdist workers at once (an exclusive file lock).
    """
    peer_dir = peer_dir
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise OidcPeerUnavailable(
            "the OIDC test peer needs Node.js (>= 20.18) and npm on PATH; install them, then "
            f"the peer's packages are installed from {peer_dir / 'package-lock.json'}"
        )
    lock = peer_dir / "package-lock.json"
    marker = peer_dir / "node_modules" / ".package-lock.json"  # written by npm ci/install
    with open(peer_dir / ".install.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=peer_dir,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise OidcPeerUnavailable(
                f"npm ci failed in {peer_dir} (exit {result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def follow_login(
    authorization_url: str,
    login_hint: str | None = None,
    *,
    session: requests.Session | None = None,
    max_hops: int = 20,
) -> str:
    """Walk the provider's redirects from ``authorization_url`` and return the client callback.

    Adds ``login_hint`` to the authorization URL unless it already has one. Cookies are kept
    in ``session`` (a fresh one by default). Stops at the first redirect whose target lies
    outside the provider's origin and returns that URL (normally the client's redirect_uri
    with ``code``, ``state`` and ``iss``; or with ``error`` if the provider refused) without
    requesting it. Raises RuntimeError if the provider answers anything but a redirect.
    """
    if login_hint is not None:
        parts = urlsplit(authorization_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(key == "login_hint" for key, _ in query):
            query.append(("login_hint", login_hint))
            authorization_url = urlunsplit(parts._replace(query=urlencode(query)))

    provider_origin = _origin(authorization_url)
    owns_session = session is None
    http = session if session is not None else requests.Session()
    try:
        url = authorization_url
        for _ in range(max_hops):
            response = http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            if response.status_code not in _REDIRECTS:
                raise RuntimeError(
                    f"OIDC provider answered {response.status_code} instead of a redirect for "
                    f"{url}:\n{response.text[:2000]}"
                )
            location = urljoin(url, response.headers["Location"])
            if _origin(location) != provider_origin:
                return location
            url = location
        raise RuntimeError(f"OIDC provider redirected more than {max_hops} times")
    finally:
        if owns_session:
            http.close()


class OidcProvider:
    """One node oidc-provider process on a free loopback port."""

    def __init__(self) -> None:
        self.issuer: str = ""
        self.port: int = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(
        self,
        clients: Sequence[dict[str, Any]],
        accounts: Sequence[dict[str, Any]],
        *,
        signing_key: dict[str, Any] | None = None,
    ) -> OidcProvider:
        """Start the provider; returns self once it prints READY (raises after ~20 s).

        ``clients``: dicts with client_id, client_secret, redirect_uris (plus any other
        oidc-provider client metadata). ``accounts``: dicts with sub and claims such as email,
        email_verified, name. ``signing_key``: optional private RSA JWK (default: generated).
        """
        if self._process is not None:
            raise RuntimeError("OIDC provider already started")
        ensure_installed()
        config: dict[str, Any] = {"clients": list(clients), "accounts": list(accounts)}
        if signing_key is not None:
            config["signing_key"] = signing_key
        last_error: Exception | None = None
        for _ in range(3):  # a free port can be taken by someone else before node binds it
            try:
                self._spawn(json.dumps(config))
                return self
            except _PortTaken as exc:
                last_error = exc
        raise RuntimeError(f"OIDC provider could not bind a port: {last_error}")

    def _spawn(self, config_json: str) -> None:
        port = _free_port()
        node = shutil.which("node")
        if not node:
            raise OidcPeerUnavailable("node is not on PATH")
        log = tempfile.NamedTemporaryFile(prefix="oidc-peer-", suffix=".log")  # noqa: SIM115
        env = {
            **os.environ,
            "PORT": str(port),
            "OIDC_CONFIG": config_json,
            "OIDC_EXIT_ON_STDIN_EOF": "1",
        }
        process = subprocess.Popen(
            [node, "server.js"],
            cwd=PEER_DIR,
            env=env,
            stdin=subprocess.PIPE,  # closed by us (or by the OS if pytest dies): node exits
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            output = Path(log.name).read_text(errors="replace")
            ready = next((ln for ln in output.splitlines() if ln.startswith("READY ")), None)
            if ready:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                _terminate(process)
                log.close()
                if "EADDRINUSE" in output:
                    raise _PortTaken(output)
                raise RuntimeError(
                    f"OIDC provider did not become ready (exit code {process.returncode}):\n"
                    f"{output[-4000:]}"
                )
            time.sleep(0.05)
        self._process, self._log, self.port = process, log, port
        self.issuer = ready.split(" ", 1)[1].strip()

    def stop(self) -> None:
        """Terminate the node process (idempotent)."""
        if self._process is not None:
            _terminate(self._process)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> OidcProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def output(self) -> str:
        """What the node process printed so far (stdout and stderr), for debugging."""
        return Path(self._log.name).read_text(errors="replace") if self._log else ""

    # ------------------------------------------------------------------ endpoints

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        response = requests.get(self.metadata_url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def jwks(self) -> dict[str, Any]:
        response = requests.get(f"{self.issuer}/jwks", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def jwks_requests(self) -> int:
        """How many times the key set has been fetched since the peer started."""
        response = requests.get(f"{self.issuer}/__test/health", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()["jwks_requests"]

    def set_mode(self, mode: str) -> None:
        """Tamper the id_token of every following token response until set back to "normal".

        wrong_issuer, other_key (signed by another key with the real kid), wrong_nonce,
        wrong_audience, expired, alg_none (unsigned), hs256 (HMAC with the client secret),
        rotated_key (a new key, published at /jwks while the mode lasts), unknown_kid (a key
        /jwks never lists).
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        response = requests.post(
            f"{self.issuer}/__test/mode", json={"mode": mode}, timeout=HTTP_TIMEOUT
        )
        response.raise_for_status()

    @contextlib.contextmanager
    def mode(self, mode: str) -> Iterator[None]:
        """``with provider.mode("expired"): ...`` then back to normal."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode("normal")

    def follow_login(self, authorization_url: str, login_hint: str | None = None) -> str:
        """Module-level :func:`follow_login`, checking the URL points at this provider."""
        if _origin(authorization_url) != _origin(self.issuer):
            raise ValueError(f"{authorization_url} is not on this provider ({self.issuer})")
        return follow_login(authorization_url, login_hint)


class _PortTaken(RuntimeError):
    pass


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
