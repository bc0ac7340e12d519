"""tools/lock.py: constraints.txt pins the installed closure of briefing-rag[models,test]."""

import sys

from packaging.requirements import Requirement

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import lock  # noqa: E402  (tools/ is a folder of scripts, not a package)


def test_closure_follows_requirements_and_requested_extras():
    pins = lock.closure([Requirement("gradio_client"), Requirement("typer")])
    assert "httpx" in pins  # a dependency of gradio_client
    assert "click" in pins  # of typer
    assert "gradio" not in pins  # gradio_client does not require gradio
    assert not {"pip", "setuptools", "wheel"} & set(pins)


def test_constraints_match_the_installed_environment():
    pins = lock.closure(lock.project_requirements())
    assert pins["torch"].startswith("2.13.0")
    assert {"ruff", "mypy", "trafilatura", "dateparser", "watchfiles", "jinja2"} <= set(pins)
    assert lock.main(["--check"]) == 0, "constraints.txt is stale: run .venv/bin/python tools/lock.py"
