"""A small OAuth 2.0 client-credentials token endpoint on 127.0.0.1, in the role Entra ID
plays for Event Hubs: it checks a client id and secret and issues short-lived RS256 JWTs, and
serves the JWKS a Kafka broker checks them against."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import jwt

from ad_marketing_pipeline.devtools.tls_files import new_rsa_key

__all__ = ["TokenService"]


class TokenService:
    """An OAuth 2.0 client-credentials token endpoint on 127.0.0.1, in the role Entra ID plays
    for Event Hubs: `POST <token_url>` with the client id and secret (HTTP Basic, as Kafka's
    login handler sends them, or form fields, as Entra ID also takes them) and
    `scope=<audience>/.default` answers `{"access_token", "token_type", "expires_in"}`; the
    token is an RS256 JWT (`sub` and `appid` the client id, `aud` the audience) that expires
    after `lifetime_seconds`. `GET <jwks_url>` serves the public key. Wrong credentials get
    401 `invalid_client`, another scope 400 `invalid_scope`. `tokens_issued` counts tokens."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        audience: str,
        lifetime_seconds: int = 3600,
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.lifetime_seconds = lifetime_seconds
        self.tokens_issued = 0
        self._key = new_rsa_key()
        self._key_id = uuid.uuid4().hex
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "the token service is not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/discovery/v2.0/keys"

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="token-service", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def jwks(self) -> dict[str, Any]:
        key: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
            self._key.public_key(), as_dict=True
        )
        return {"keys": [{**key, "kid": self._key_id, "use": "sig", "alg": "RS256"}]}

    def issue(self, client_id: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "appid": client_id,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_seconds,
            "tid": self.tenant_id,
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._key_id})
        with self._lock:
            self.tokens_issued += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime_seconds}

    def answer(self, authorization: str | None, body: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of a token request."""
        form = {key: values[0] for key, values in parse_qs(body).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic "):
            try:
                pair = base64.b64decode(authorization[6:]).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            user, _, password = pair.partition(":")
            client_id, client_secret = unquote_plus(user), unquote_plus(password)
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if not (
            client_id == self.client_id
            and client_secret is not None
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        if form.get("scope") != f"{self.audience}/.default":
            return 400, {"error": "invalid_scope", "error_description": "unknown scope"}
        return 200, self.issue(client_id)


def _handler_for(service: TokenService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == f"/{service.tenant_id}/discovery/v2.0/keys":
                self._send(200, service.jwks())
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            if self.path != f"/{service.tenant_id}/oauth2/v2.0/token":
                self._send(404, {"error": "not_found"})
                return
            self._send(*service.answer(self.headers.get("Authorization"), body))

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the requests carry credentials."""

    return Handler
