"""A local stand-in for Azure Event Hubs' Kafka endpoint: the same Apache Kafka broker as
`local_kafka`, with a SASL_SSL listener configured the way Event Hubs' is.

- TLS: a certificate authority made at start, and a server certificate it signs for
  `localhost` and 127.0.0.1 (PEM files in the broker's folder; clients trust `ca_file`);
- SASL PLAIN: the user is `$ConnectionString` and the password is the namespace's connection
  string (`Endpoint=sb://<namespace host>/;SharedAccessKeyName=...;SharedAccessKey=...`), as
  Event Hubs takes it;
- SASL OAUTHBEARER: JWTs checked against the JWKS of a `TokenService`, a small OAuth 2.0
  client-credentials token endpoint in the role Entra ID plays: it checks the client id and
  secret and issues short-lived RS256 tokens for the scope `https://<namespace host>/.default`.

Only the endpoint (`localhost:<port>`), the token URL and the trusted CA differ from Azure: the
pipeline's own Event Hubs configuration reads from it with those three overridden
(`eventhubs_source`). `ad-pipeline kafka-broker --secured` runs one by hand. The broker's own
admin requests (readiness, topics) go to a plaintext listener on 127.0.0.1 that only this
process uses.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml

from ad_marketing_pipeline.devtools.local_kafka import LocalKafkaBroker, serve_broker
from ad_marketing_pipeline.devtools.tls_files import TlsFiles, make_tls_files
from ad_marketing_pipeline.devtools.token_service import TokenService
from ad_marketing_pipeline.sources.eventhubs import namespace_host

__all__ = ["SecuredKafkaBroker", "serve_secured"]

_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_OAUTH_LOGIN = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
_OAUTH_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


# ---------------------------------------------------------------------------------------------
# The broker
# ---------------------------------------------------------------------------------------------

AuthMode = Literal["connection_string", "service_principal"]


class SecuredKafkaBroker(LocalKafkaBroker):
    """The local KRaft broker behind a SASL_SSL listener configured as Event Hubs' Kafka
    endpoint (PLAIN with `$ConnectionString`, OAUTHBEARER against `tokens`), on
    `localhost:<port>`. Its namespace's connection string and its service principal's client
    id and secret are made at construction (`connection_string`, `tokens.client_secret`).
    `reauthenticate_ms` makes the broker close connections whose sign-in is older (Kafka's
    `connections.max.reauth.ms`), so a client must sign in again with a fresh token."""

    def __init__(
        self,
        jars_dir: Path,
        work_dir: Path,
        port: int | None = None,
        *,
        namespace: str = "local-eventhubs",
        token_lifetime_seconds: int = 3600,
        reauthenticate_ms: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(jars_dir, work_dir, port, **options)
        self.internal_port = self._other_free_port()
        while self.internal_port == self.controller_port:
            self.internal_port = self._other_free_port()
        self.namespace_host = namespace_host(namespace)
        self.connection_string = (
            f"Endpoint=sb://{self.namespace_host}/;SharedAccessKeyName=RootManageSharedAccessKey;"
            f"SharedAccessKey={secrets.token_urlsafe(32)}"
        )
        self.reauthenticate_ms = reauthenticate_ms
        self.tokens = TokenService(
            tenant_id="local-tenant",
            client_id=f"client-{uuid.uuid4().hex[:12]}",
            client_secret=secrets.token_urlsafe(24),
            audience=f"https://{self.namespace_host}",
            lifetime_seconds=token_lifetime_seconds,
        )
        self.tls: TlsFiles | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The SASL_SSL endpoint (`localhost`, the name its certificate carries)."""
        return f"localhost:{self.port}"

    @property
    def admin_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.internal_port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients trust (PEM)."""
        return self.work_dir / "tls" / "ca.pem"

    def start(self) -> None:
        if self.is_running:
            return
        self.tokens.start()
        self.tls = make_tls_files(self.work_dir / "tls")
        try:
            super().start()
        except BaseException:
            self.tokens.stop()
            raise

    def stop(self, timeout: float = 20.0) -> None:
        super().stop(timeout)
        self.tokens.stop()

    def _server_properties(self) -> dict[str, str]:
        assert self.tls is not None
        internal = f"INTERNAL://127.0.0.1:{self.internal_port}"
        controller = f"CONTROLLER://127.0.0.1:{self.controller_port}"
        props = super()._server_properties()
        props.update(
            {
                # Bound on 127.0.0.1, advertised as localhost: the name its certificate carries.
                "listeners": f"SASL_SSL://127.0.0.1:{self.port},{internal},{controller}",
                "advertised.listeners": f"SASL_SSL://localhost:{self.port},{internal},{controller}",
                "listener.security.protocol.map": (
                    "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
                ),
                "inter.broker.listener.name": "INTERNAL",
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(self.tls.server_file),
                "sasl.enabled.mechanisms": "PLAIN,OAUTHBEARER",
                "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                    f'{_PLAIN_LOGIN} required user_$ConnectionString="{self.connection_string}";'
                ),
                "listener.name.sasl_ssl.oauthbearer.sasl.jaas.config": f"{_OAUTH_LOGIN} required;",
                "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class": (
                    _OAUTH_VALIDATOR
                ),
                "sasl.oauthbearer.jwks.endpoint.url": self.tokens.jwks_url,
                "sasl.oauthbearer.expected.audience": self.tokens.audience,
                "sasl.oauthbearer.expected.issuer": self.tokens.issuer,
            }
        )
        if self.reauthenticate_ms is not None:
            props["connections.max.reauth.ms"] = str(self.reauthenticate_ms)
        return props

    def _system_properties(self) -> dict[str, str]:
        # Kafka 4 fetches only the OAuth URLs it is told it may (CVE-2025-27817).
        return {"org.apache.kafka.sasl.oauthbearer.allowed.urls": self.tokens.jwks_url}

    def eventhubs_source(self, event_hub: str, auth: AuthMode, **settings: Any) -> dict[str, Any]:
        """The pipeline's `source` section reading `event_hub` here: Event Hubs' own
        configuration with only the endpoint, the token URL and the trusted CA overridden."""
        if auth == "connection_string":
            credentials: dict[str, Any] = {
                "mode": "connection_string",
                "connection_string": self.connection_string,
            }
        else:
            credentials = {
                "mode": "service_principal",
                "tenant_id": self.tokens.tenant_id,
                "client_id": self.tokens.client_id,
                "client_secret": self.tokens.client_secret,
                "token_endpoint": self.tokens.token_url,
            }
        return {
            "kind": "eventhubs",
            "namespace": self.namespace_host,
            "event_hub": event_hub,
            "auth": credentials,
            "bootstrap_servers": self.bootstrap_servers,
            "ssl_ca_file": str(self.ca_file),
            **settings,
        }


# ---------------------------------------------------------------------------------------------
# By hand: `ad-pipeline kafka-broker --secured`
# ---------------------------------------------------------------------------------------------


def try_out_files(broker: SecuredKafkaBroker, topic: str) -> list[Path]:
    """Files that point the pipeline at the running broker, in its folder: one configuration
    per sign-in mode (`--conf`), without secrets, and a `secrets.env` (readable by its owner
    only) with the environment variables the configurations read the secrets from."""
    written = []
    modes: tuple[AuthMode, ...] = ("connection_string", "service_principal")
    for auth in modes:
        source = broker.eventhubs_source(topic, auth)
        source["auth"].pop("connection_string", None)
        source["auth"].pop("client_secret", None)
        conf = broker.work_dir / f"eventhubs-{auth.replace('_', '-')}.yml"
        conf.write_text(yaml.safe_dump({"env": "local", "source": source}, sort_keys=False))
        written.append(conf)
    secrets_file = broker.work_dir / "secrets.env"
    secrets_file.touch(mode=0o600)
    secrets_file.chmod(0o600)
    secrets_file.write_text(
        f"EVENTHUBS_CONNECTION_STRING='{broker.connection_string}'\n"
        f"EVENTHUBS_CLIENT_SECRET='{broker.tokens.client_secret}'\n"
    )
    written.append(secrets_file)
    return written


def serve_secured(jars_dir: Path, work_dir: Path, port: int | None, topic: str) -> None:
    """Run a secured broker by hand until Ctrl-C, with `topic` created, and say how to point
    the pipeline and `generate --to kafka` at it (no secret is printed: they are in a file)."""
    broker = SecuredKafkaBroker(jars_dir, work_dir, port)

    def describe() -> list[str]:
        broker.create_topic(topic)
        *confs, secrets_file = try_out_files(broker, topic)
        return [
            f"Event Hubs-style endpoint (SASL_SSL): {broker.bootstrap_servers}, "
            f"event hub {topic!r}",
            f"CA certificate to trust: {broker.ca_file}",
            f"token endpoint (client credentials): {broker.tokens.token_url}",
            f"configurations: {', '.join(str(conf) for conf in confs)}",
            f"secrets (environment variables, owner-only file): {secrets_file}",
            f"try: set -a; . {secrets_file}; set +a; "
            f"ad-pipeline generate --to kafka --conf {confs[0]} --events 1000; "
            f"ad-pipeline run --conf {confs[1]} --layers bronze,silver,gold",
        ]

    serve_broker(broker, describe)
