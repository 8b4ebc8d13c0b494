"""The `ad-pipeline` command line: help, configuration handling, `generate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ad_marketing_pipeline import contract
from ad_marketing_pipeline.cli import build_parser, main
from ad_marketing_pipeline.config import (
    LOCAL_KAFKA_BOOTSTRAP,
    KafkaSource,
    PipelineConfig,
    ServingConfig,
)
from ad_marketing_pipeline.invocation import config_from_args
from ad_marketing_pipeline.io import StreamTrigger
from ad_marketing_pipeline.serving.stream import serving_trigger

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("generate", "run", "sql", "demo", "provision", "status", "config", "kafka-broker")


@pytest.fixture(autouse=True)
def shipped_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AD_PIPELINE_CONF_DIR", str(REPO_ROOT / "conf"))


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in text


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_explains_itself(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: ad-pipeline {name}" in text
    if name != "kafka-broker":
        assert "--env" in text
        assert "--set KEY=VALUE" in text


def test_config_command_applies_flags_and_hides_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AD_PIPELINE__SOURCE__AUTH__CONNECTION_STRING", "SharedAccessKey=HIDDEN")
    exit_code = main(
        ["config", "--env", "dev", "--catalog", "main", "--schema", "ads", "--root", str(tmp_path)]
    )
    assert exit_code == 0
    printed = capsys.readouterr().out
    assert "HIDDEN" not in printed
    shown = json.loads(printed)
    assert (shown["catalog"], shown["schema"], shown["paths"]["root"]) == (
        "main",
        "ads",
        str(tmp_path),
    )
    assert shown["source"]["auth"]["connection_string"] == "**********"


def test_bad_configuration_exits_with_a_readable_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "--set", "budget.period=fortnight"]) == 2
    assert "budget.period" in capsys.readouterr().err


@pytest.mark.slow
def test_generate_is_deterministic_and_has_every_event_type(tmp_path: Path) -> None:
    outputs = []
    for attempt in ("first", "second"):
        out = tmp_path / attempt
        args = ["generate", "--out", str(out), "--events", "100000", "--seed", "7"]
        assert main(args) == 0
        outputs.append(out)

    first_files = sorted(path.name for path in outputs[0].iterdir())
    assert first_files == sorted(path.name for path in outputs[1].iterdir())
    for name in first_files:
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()

    seen_types = set()
    lines = 0
    for name in first_files:
        for line in (outputs[0] / name).read_text(encoding="utf-8").splitlines():
            lines += 1
            try:
                seen_types.add(json.loads(line).get("event_type"))
            except (json.JSONDecodeError, AttributeError):
                continue  # a malformed record, on purpose
    assert lines == 100_000
    assert set(contract.EVENT_TYPES) <= seen_types


def test_generate_with_another_seed_differs(tmp_path: Path) -> None:
    for seed in ("1", "2"):
        args = ["generate", "--out", str(tmp_path / seed), "--events", "2000", "--seed", seed]
        assert main(args) == 0
    first = (tmp_path / "1" / "events-00000.jsonl").read_bytes()
    assert first != (tmp_path / "2" / "events-00000.jsonl").read_bytes()


def test_every_ad_pipeline_command_in_the_makefile_parses() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    commands = [
        line.split("ad-pipeline", 1)[1].split()
        for line in makefile.splitlines()
        if line.startswith("\t$(BIN)/ad-pipeline")
    ]
    assert commands, "the Makefile runs ad-pipeline for the demo"
    for arguments in commands:
        parsed = build_parser().parse_args(arguments)
        assert parsed.command in SUBCOMMANDS


@pytest.mark.parametrize(
    ("given", "layers"),
    [
        ("silver", ("silver",)),
        ("silver,bronze", ("bronze", "silver")),
        ("gold", ("gold",)),
        ("attribution", ("attribution",)),
        ("gold,serving", ("serving", "gold")),
        (None, ("bronze", "serving", "silver", "gold", "attribution")),
    ],
)
def test_run_takes_layers_in_pipeline_order(given: str | None, layers: tuple[str, ...]) -> None:
    arguments = ["run", "--full-refresh"] + (["--layers", given] if given else [])
    parsed = build_parser().parse_args(arguments)
    assert parsed.layers == layers
    assert parsed.full_refresh


def test_run_rejects_an_unknown_layer(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--layers", "bronze,platinum"])
    error = capsys.readouterr().err
    assert "layers must be among bronze, serving, silver, gold, attribution" in error


def test_run_source_kafka_reads_the_local_broker_and_set_still_applies() -> None:
    args = build_parser().parse_args(
        ["run", "--source", "kafka", "--set", "source.topics=[clicks]"]
    )
    source = config_from_args(args).source
    assert isinstance(source, KafkaSource)
    assert (source.bootstrap_servers, source.topics) == (LOCAL_KAFKA_BOOTSTRAP, ["clicks"])
    back = build_parser().parse_args(["run", "--env", "dev", "--source", "files"])
    assert config_from_args(back).source.kind == "files"


def test_generate_rejects_a_rate_that_is_not_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--to", "kafka", "--events", "5", "--rate", "0"]) == 2
    assert "--rate must be a positive number" in capsys.readouterr().err


def test_generate_rate_is_for_sending_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["generate", "--out", str(tmp_path), "--events", "5", "--rate", "10"]) == 2
    assert "--rate needs --to kafka or --to eventhubs" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_the_serving_stream_keeps_its_own_interval_in_a_continuous_run() -> None:
    config = PipelineConfig(env="local", serving=ServingConfig(processing_time="2 seconds"))
    assert serving_trigger(StreamTrigger("1 minute"), config) == StreamTrigger("2 seconds")
    assert serving_trigger(StreamTrigger(), config) == StreamTrigger()  # once: availableNow
