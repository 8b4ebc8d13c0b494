"""A Kafka endpoint asked, before its stream starts, whether it lets us in and has the topic.

Spark's Kafka source does not fail on every problem a user meets: subscribed to a topic (an
event hub) that does not exist, it reads nothing, batch after batch; and the errors it does
raise arrive after retries, wrapped in a long Spark stack. So before an Event Hubs stream
starts, the driver's own Kafka client, with exactly the stream's client settings, asks the
endpoint for the topic's metadata, within a stated time, and a failure becomes one message that
says what failed: the TLS handshake (an untrusted certificate), the sign-in (a wrong
connection string or client secret, or the token endpoint refusing them), the topic, or no
answer at all. No secret is in it: Kafka's messages do not carry the JAAS line, and the
message is scrubbed of secret-looking text besides.

The check runs where the driver has the Kafka client classes and a JVM to call (a local
session, a Databricks classic cluster: `kafkashaded.` classes); on Spark Connect (serverless,
shared clusters) there is no JVM to call and the stream starts unchecked.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.sql import SparkSession

from ad_marketing_pipeline.config.secret_patterns import scrub
from ad_marketing_pipeline.errors import SourceError
from ad_marketing_pipeline.spark import is_spark_connect

LOG = logging.getLogger(__name__)
_WRAPPED_EXCEPTIONS = re.compile(r"^(?:[\w$.]+(?:Exception|Error): )+")
CHECK_SECONDS = 30
_KAFKA_PREFIX = "kafka."


def _causes(error: Any) -> list[tuple[str, str]]:
    """(simple class name, message) of a Java throwable and each of its causes."""
    chain: list[tuple[str, str]] = []
    current = error
    while current is not None and len(chain) < 12:
        chain.append((str(current.getClass().getSimpleName()), str(current.getMessage() or "")))
        current = current.getCause()
    return chain


def explain(
    causes: list[tuple[str, str]],
    *,
    endpoint: str,
    topic: str,
    what: str,
    seconds: float,
    secrets: Sequence[str] = (),
) -> str:
    """One message for a failed check, from the Java exception chain's class names and
    messages: what failed, at which endpoint, and what to check; `secrets` and every
    secret-looking `key=value` masked."""
    names = {name for name, _ in causes}
    # The deepest cause's first line: some Kafka messages carry a whole stack trace.
    detail = next((m.strip().splitlines()[0] for _, m in reversed(causes) if m.strip()), "")
    detail = _WRAPPED_EXCEPTIONS.sub("", detail)  # "a.b.KafkaException: x.y.IOException: ..."
    detail = detail if len(detail) <= 300 else detail[:297] + "..."
    if "SslAuthenticationException" in names or "SSLHandshakeException" in names:
        problem = (
            f"the TLS handshake with {endpoint} failed: its certificate is not trusted or does "
            "not name the host (source.ssl_ca_file sets the CA certificates to trust for a "
            "private CA; Azure's endpoints need none)"
        )
    elif "SaslAuthenticationException" in names:
        problem = (
            f"{endpoint} refused the sign-in: check the {what} (for a connection string, that "
            "it is the namespace's or the event hub's and that its key is current; for a "
            "service principal, its role on the event hub)"
        )
    elif "LoginException" in names or any("token endpoint" in m.lower() for _, m in causes):
        problem = (
            f"signing in for {endpoint} failed before connecting: the token endpoint refused "
            f"the {what} or could not be reached (check the client id and secret, the tenant "
            "and source.auth.token_endpoint)"
        )
    elif "UnknownTopicOrPartitionException" in names:
        problem = (
            f"the event hub (Kafka topic) {topic!r} does not exist at {endpoint}, or this "
            "sign-in may not see it: check source.event_hub"
        )
    elif "TopicAuthorizationException" in names:
        problem = f"the {what} may not read the event hub {topic!r} at {endpoint}"
    elif "TimeoutException" in names:
        problem = (
            f"{endpoint} did not answer within {seconds:g} s: check source.namespace (or "
            "source.bootstrap_servers), the network path to port 9093 and the firewall"
        )
    else:
        problem = f"the Kafka client could not reach {topic!r} at {endpoint}"
    return scrub(f"Event Hubs check failed: {problem}. Kafka said: {detail}", secrets)


def check_kafka_endpoint(
    spark: SparkSession,
    options: Mapping[str, str],
    *,
    topic: str,
    what: str,
    secret: str,
    shaded: bool,
    seconds: float = CHECK_SECONDS,
) -> None:
    """Ask the endpoint of Spark Kafka-source `options` for `topic`'s metadata with the same
    client settings, and raise SourceError saying what failed (`what` names the credential,
    `secret` is its value, masked in the message) within about `seconds`; do nothing where
    the driver has no JVM."""
    if is_spark_connect(spark):
        LOG.info("Spark Connect: the Event Hubs endpoint is not checked before the stream")
        return
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    kafka = functools.reduce(
        getattr, ("kafkashaded.org.apache.kafka" if shaded else "org.apache.kafka").split("."), jvm
    )
    properties = jvm.java.util.Properties()
    for key, value in options.items():
        if key.startswith(_KAFKA_PREFIX):
            properties.setProperty(key[len(_KAFKA_PREFIX) :], value)
    millis = str(round(seconds * 1000))
    for key in (
        "request.timeout.ms",
        "default.api.timeout.ms",
        "socket.connection.setup.timeout.max.ms",
    ):
        properties.setProperty(key, millis)
    endpoint = options.get("kafka.bootstrap.servers", "?")
    try:
        admin = kafka.clients.admin.Admin.create(properties)
        try:
            topics = jvm.java.util.Collections.singletonList(topic)
            admin.describeTopics(topics).allTopicNames().get(
                round(seconds * 1000), jvm.java.util.concurrent.TimeUnit.MILLISECONDS
            )
        finally:
            admin.close(jvm.java.time.Duration.ofSeconds(5))
    except Py4JJavaError as error:
        causes = _causes(error.java_exception)
        raise SourceError(
            explain(
                causes,
                endpoint=endpoint,
                topic=topic,
                what=what,
                seconds=seconds,
                secrets=(secret,),
            )
        ) from None
    except Py4JError as error:  # the classes are not there: leave it to the stream
        LOG.warning("the Event Hubs endpoint was not checked: %s", scrub(str(error), [secret]))
