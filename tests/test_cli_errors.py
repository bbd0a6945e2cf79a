"""A package the command line needs but cannot import: one line naming it and the fix, exit
status 2, no traceback; a module of the project's own that is missing stays a bug."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from bench.cli import _BenchGroup, missing_package

HINT = "install the project with its dependencies: pip install -e . in the checkout"


def _app(error: Exception) -> typer.Typer:
    app = typer.Typer(cls=_BenchGroup)

    @app.command()
    def fails() -> None:
        raise error

    @app.command()
    def other() -> None:  # two commands: `fails` stays a subcommand
        pass

    return app


def test_a_command_that_meets_a_missing_package_prints_one_line():
    result = CliRunner().invoke(
        _app(ModuleNotFoundError("No module named 'scikit_posthocs'", name="scikit_posthocs")), ["fails"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == f"error: the Python package 'scikit_posthocs' is not installed ({HINT})"


def test_a_submodule_names_its_package():
    error = missing_package(ModuleNotFoundError(name="torchxrayvision.datasets"))
    assert error is not None and error.message == "the Python package 'torchxrayvision' is not installed"


@pytest.mark.parametrize("name", ["bench.nothing", "methods.gone", None])
def test_a_missing_module_of_the_project_stays_a_bug(name):
    assert missing_package(ModuleNotFoundError(name=name)) is None
    result = CliRunner().invoke(_app(ModuleNotFoundError(name=name)), ["fails"])
    assert result.exit_code == 1 and isinstance(result.exception, ModuleNotFoundError)


def test_bench_started_without_an_installed_dependency_says_which():
    # None in sys.modules makes the import fail as a missing package does.
    code = "import sys; sys.modules['platformdirs'] = None; from bench.cli import main; main(['--help'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: the Python package 'platformdirs' is not installed ({HINT})"
    assert "Traceback" not in done.stderr and done.stdout == ""
    code = code.replace("import sys;", "import sys; sys.argv[1:] = ['--debug'];")
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert loud.returncode == 2 and "Traceback" in loud.stderr and "import of platformdirs halted" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == done.stderr.strip()
