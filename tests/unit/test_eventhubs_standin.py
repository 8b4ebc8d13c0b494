"""The pieces of the local Event Hubs stand-in that need no broker: the token service over real
HTTP on a loopback port (client credentials in, RS256 JWTs out, checked against its JWKS), the
TLS files, and the messages the endpoint check gives for each failure."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import pytest
from cryptography import x509

from ad_marketing_pipeline.devtools.tls_files import make_tls_files
from ad_marketing_pipeline.devtools.token_service import TokenService
from ad_marketing_pipeline.sources.endpoint_check import explain

AUDIENCE = "https://local-ns.servicebus.windows.net"


@pytest.fixture
def tokens() -> Iterator[TokenService]:
    service = TokenService(
        tenant_id="tenant-1",
        client_id="app-1",
        client_secret="s3cret/with+odd=chars",
        audience=AUDIENCE,
        lifetime_seconds=30,
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


def post(url: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url, data=urlencode(form).encode(), headers=headers or {}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def basic(client_id: str, secret: str) -> dict[str, str]:
    """The Authorization header Kafka's login handler sends (URL-encoded parts, base64)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def verified(tokens: TokenService, token: str) -> dict[str, Any]:
    with urllib.request.urlopen(tokens.jwks_url, timeout=10) as answer:
        keys = json.loads(answer.read())["keys"]
    key = jwt.PyJWK(keys[0]).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=tokens.issuer
    )
    return claims


def test_client_credentials_in_basic_auth_get_a_short_lived_rs256_token(
    tokens: TokenService,
) -> None:
    form = {"grant_type": "client_credentials", "scope": f"{AUDIENCE}/.default"}

    status, body = post(tokens.token_url, form, basic("app-1", "s3cret/with+odd=chars"))

    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 30
    claims = verified(tokens, body["access_token"])
    assert claims["sub"] == "app-1"
    assert 29 <= claims["exp"] - time.time() <= 31
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "RS256"
    assert tokens.tokens_issued == 1


def test_client_credentials_in_the_form_work_too(tokens: TokenService) -> None:
    form = {
        "grant_type": "client_credentials",
        "scope": f"{AUDIENCE}/.default",
        "client_id": "app-1",
        "client_secret": "s3cret/with+odd=chars",
    }

    status, body = post(tokens.token_url, form)

    assert status == 200
    assert verified(tokens, body["access_token"])["aud"] == AUDIENCE


@pytest.mark.parametrize(
    ("asked", "status", "error"),
    [
        (("app-1", "wrong", f"{AUDIENCE}/.default"), 401, "invalid_client"),
        (("app-2", "s3cret/with+odd=chars", f"{AUDIENCE}/.default"), 401, "invalid_client"),
        (("app-1", "s3cret/with+odd=chars", "https://other/.default"), 400, "invalid_scope"),
    ],
)
def test_wrong_credentials_or_scope_get_no_token(
    tokens: TokenService, asked: tuple[str, str, str], status: int, error: str
) -> None:
    client_id, secret, scope = asked
    form = {"grant_type": "client_credentials", "scope": scope}

    answered, body = post(tokens.token_url, form, basic(client_id, secret))

    assert (answered, body["error"]) == (status, error)
    assert "access_token" not in body
    assert tokens.tokens_issued == 0


def test_tls_files_chain_the_server_certificate_to_the_new_ca(tmp_path: Path) -> None:
    files = make_tls_files(tmp_path)

    ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
    chain = x509.load_pem_x509_certificates(files.server_file.read_bytes())
    server = chain[0]
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert b"PRIVATE KEY" in files.server_file.read_bytes()
    assert b"PRIVATE KEY" not in files.ca_file.read_bytes()


ENDPOINT = "localhost:19093"


@pytest.mark.parametrize(
    ("causes", "expected"),
    [
        (
            [
                ("SslAuthenticationException", "SSL handshake failed"),
                ("SSLHandshakeException", "PKIX path building failed"),
            ],
            "TLS handshake with localhost:19093 failed",
        ),
        (
            [
                (
                    "SaslAuthenticationException",
                    "Authentication failed: Invalid username or password",
                )
            ],
            "localhost:19093 refused the sign-in: check the connection string",
        ),
        (
            [
                ("KafkaException", "Failed to create new KafkaAdminClient"),
                ("LoginException", "The POST response code was 401"),
            ],
            "the token endpoint refused the connection string",
        ),
        (
            [("UnknownTopicOrPartitionException", "This server does not host this topic")],
            "'hub-1' does not exist at localhost:19093",
        ),
        (
            [("TimeoutException", "Timed out waiting for a node assignment")],
            "did not answer within 30 s",
        ),
    ],
)
def test_each_failure_is_named(causes: list[tuple[str, str]], expected: str) -> None:
    message = explain(
        causes, endpoint=ENDPOINT, topic="hub-1", what="connection string", seconds=30
    )

    assert expected in message
    assert message.startswith("Event Hubs check failed: ")
    assert causes[-1][1] in message  # what Kafka said


def test_secret_looking_text_in_kafka_s_message_is_masked() -> None:
    causes = [("ConfigException", 'Invalid value password="hunter2hunter2" for jaas')]

    message = explain(causes, endpoint=ENDPOINT, topic="hub-1", what="x", seconds=30)

    assert "hunter2hunter2" not in message


def test_kafka_s_wrapped_exception_names_and_stack_traces_are_left_out() -> None:
    causes = [
        (
            "LoginException",
            "org.apache.kafka.common.KafkaException: java.io.IOException: The response code 401"
            "\n\tat org.apache.kafka.Something.method(Something.java:1)",
        )
    ]

    message = explain(causes, endpoint=ENDPOINT, topic="hub-1", what="x", seconds=30)

    assert message.endswith("Kafka said: The response code 401")


def test_the_credential_itself_is_masked_wherever_kafka_quotes_it() -> None:
    causes = [("SaslAuthenticationException", "rejected credential s3cr3t-value-xyz for user")]

    message = explain(
        causes,
        endpoint=ENDPOINT,
        topic="hub-1",
        what="x",
        seconds=30,
        secrets=("s3cr3t-value-xyz",),
    )

    assert "s3cr3t-value-xyz" not in message
