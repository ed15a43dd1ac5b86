"""Shared fixtures: CPU-only, seeded, no network, one intra-op thread (2-core CI machine)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Tiny models: one intra-op thread is fastest and avoids OpenMP spin-waiting on a busy machine.
torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _lt_cache_dir(tmp_path_factory):
    """The session's caches go to one temp folder ($LT_CACHE_DIR), never ~/.cache/lt (set before any
    module fixture runs; a test that needs its own sets LT_CACHE_DIR with monkeypatch)."""
    old = os.environ.get("LT_CACHE_DIR")
    os.environ["LT_CACHE_DIR"] = str(tmp_path_factory.mktemp("lt-cache"))
    yield
    if old is None:
        os.environ.pop("LT_CACHE_DIR", None)
    else:
        os.environ["LT_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _loud():
    """stderr chatter on at the start of every test (a CLI test's --quiet must not silence the next one)."""
    from toolkit.engine.report import set_quiet

    set_quiet(False)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def invoke(runner):
    """``invoke(*args)`` runs ``lt ARGS`` in-process and returns the click Result."""
    from cli.main import app

    def _invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return _invoke


def assert_user_error(result, *fragments: str) -> None:
    """Exit code 2, and stderr is exactly one ``Error: ...`` line containing every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: "), result.stderr
    for f in fragments:
        assert f in err[0], (f, err[0])
