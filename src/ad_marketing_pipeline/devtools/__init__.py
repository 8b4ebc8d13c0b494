"""Local development tools, never imported by a Databricks job.

- `generator` (with `settings` and `simulation`): deterministic synthetic ad-marketing events,
  written as JSON-lines landing files or handed out as lines;
- `producer`: sends those lines to Kafka or Azure Event Hubs, keyed by advertiser;
- `local_kafka` (with `kafka_config` and `kafka_admin`): a single-node Apache Kafka broker in
  KRaft mode, run from the Maven Central jars, for the demo, the tests and the benchmarks.
"""
