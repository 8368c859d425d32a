"""pushapp built and installed as a user installs it, for the tests that must not see the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import REPO_ROOT


@dataclass(frozen=True)
class InstalledWheel:
    dist: Path  #: the built sdist and wheel
    python: Path  #: the interpreter of the virtualenv the wheel is installed in

    @classmethod
    def build(cls, root: Path) -> InstalledWheel:
        dist = root / "dist"
        subprocess.run(
            [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(REPO_ROOT)],
            check=True,
            capture_output=True,
        )
        wheels = list(dist.glob("pushapp-*.whl"))
        assert len(wheels) == 1, list(dist.iterdir())
        venv.create(root / "venv", with_pip=True)
        python = root / "venv" / "bin" / "python"
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"{wheels[0]}[redis]"],
            check=True,
            env=cls.env(),
            cwd=root,
        )
        return cls(dist, python)

    @staticmethod
    def env(**extra: str) -> dict[str, str]:
        """This process's environment without what would put the checkout or its settings in reach."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
        return {**env, **extra}

    def version_of(self, distribution: str) -> tuple[int, ...]:
        """The installed version of ``distribution`` in the virtualenv, as numbers (release part only)."""
        out = subprocess.run(
            [str(self.python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
            check=True,
            capture_output=True,
            text=True,
            env=self.env(),
        ).stdout.strip()
        return tuple(int(part) for part in out.split(".")[:2] if part.isdigit())
