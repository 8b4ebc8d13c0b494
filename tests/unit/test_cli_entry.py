"""`ad-pipeline` without the `tools` extra: a message naming the extra, not a traceback."""

from __future__ import annotations

import pytest

from ad_marketing_pipeline.cli_entry import INSTALL_TOOLS, main, missing_tool_library
from helpers import fresh_python


def _without(*modules: str) -> str:
    """Code that runs `ad-pipeline --help` as if `modules` were not installed."""
    return (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    sys.modules[name] = None\n"
        "from ad_marketing_pipeline.cli_entry import main\n"
        "sys.exit(main(['--help']))\n"
    )


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("rich", "rich"),
        ("rich.console", "rich"),
        ("plotly.graph_objects", "plotly"),
        ("confluent_kafka", "confluent-kafka"),
        ("confluent_kafka.admin", "confluent-kafka"),
        ("azure", "azure-eventhub"),
        ("azure.eventhub", "azure-eventhub"),
        ("azure.identity", "azure-identity"),
        ("yaml", None),
        ("pyspark", None),
        ("azure.storage", None),
        ("richer", None),
    ],
)
def test_only_the_tools_libraries_count_as_missing_tools(name: str, missing: str | None) -> None:
    assert missing_tool_library(ModuleNotFoundError(f"No module named {name!r}", name=name)) == (
        missing
    )


@pytest.mark.parametrize(
    ("module", "library"),
    [
        ("rich", "rich"),
        ("confluent_kafka", "confluent-kafka"),
        ("azure.eventhub", "azure-eventhub"),
        ("plotly", "plotly"),
    ],
)
def test_a_missing_tools_library_names_the_extra_to_install(module: str, library: str) -> None:
    ran = fresh_python(_without(module))
    assert ran.returncode == 2, ran.stderr
    assert f" and {library} is not installed" in ran.stderr
    assert INSTALL_TOOLS in ran.stderr
    assert INSTALL_TOOLS == "pip install 'ad-marketing-pipeline[tools]'"
    assert "Traceback" not in ran.stderr
    assert ran.stdout == ""


def test_another_missing_module_is_not_blamed_on_the_extra() -> None:
    ran = fresh_python(_without("yaml"))
    assert ran.returncode == 1
    assert "ModuleNotFoundError" in ran.stderr
    assert INSTALL_TOOLS not in ran.stderr


def test_with_the_tools_installed_it_is_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "usage: ad-pipeline" in capsys.readouterr().out
