"""The wheel built from the checkout installs one `mailbot` namespace that runs from anywhere.

The wheel is built from a copy of the packaged folders (so nothing stray in the checkout
can help) and installed with `--no-deps` into a fresh venv that sees the test venv's
site-packages for the dependencies, so no network is needed. Every command then runs
from a directory outside the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from helpers.paths import ROOT, SAMPLE

# What a wheel may hold at its top level: the package and its dist-info.
PACKAGED = ("pyproject.toml", "README.md", "mailbot", "parsers", "store", "scheduler", "templates")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in PACKAGED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("mailbot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh venv holding the wheel (dependencies from the test venv)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    # The fresh venv's `system` site-packages is the base interpreter's; point it at the test venv's too.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    test_site = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "test-venv.pth").write_text("\n".join(test_site) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    return env_dir / "bin"


def test_wheel_holds_only_the_mailbot_namespace_with_templates_and_migrations(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"mailbot"}
    assert "mailbot/templates/notices/subjects.toml" in names
    assert {f"mailbot/templates/notices/{kind}.txt.j2" for kind in ("request", "reminder")} <= set(names)
    assert "mailbot/store/migrations/script.py.mako" in names
    assert "mailbot/store/migrations/env.py" in names
    assert any(n.startswith("mailbot/store/migrations/versions/") and n.endswith(".py") for n in names)
    assert "mailbot/parsers/__init__.py" in names and "mailbot/scheduler/__init__.py" in names


def _run(bin_dir: Path, cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [*args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_installed_mailbot_runs_help_demo_and_a_render_from_elsewhere(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed package, not the checkout, answers the import.
    where = _run(installed, elsewhere, str(installed / "python"), "-c", "import mailbot; print(mailbot.__file__)")
    assert not Path(where.strip()).is_relative_to(ROOT)

    assert "demo" in _run(installed, elsewhere, str(installed / "mailbot"), "--help")

    (elsewhere / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "demo.sqlite3"}"\n[paths]\nsample = "{SAMPLE}"\n'
    )
    demo = _run(installed, elsewhere, str(installed / "mailbot"), "demo")
    assert "309 messages stored" in demo

    render = (
        "from mailbot.outbound.render import render; "
        "r = render('request', {'traceback_id': 7, 'provider_name': 'Acme Voice'}); "
        "print(r.subject); print(r.text)"
    )
    out = _run(installed, elsewhere, str(installed / "python"), "-c", render)
    subject, _, text = out.partition("\n")
    assert subject == "Traceback request [Traceback #7]"
    assert "This is a request for call detail information" in text  # the packaged template's wording
