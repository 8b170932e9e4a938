"""Build step of the wheel: it carries the report notebooks and the demo company's parameters.

Everything else is declared in pyproject.toml. The repository's ``notebooks/`` and
``params/`` stay the only source of these files; this step copies the ones that
``lib/outcomes/scaffold/bundled.py`` lists into ``outcomes/scaffold/bundled/`` of the build,
where ``outcomes init`` and ``outcomes demo`` find them in an installed kit.
"""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("_bundled", HERE / "lib" / "outcomes" / "scaffold" / "bundled.py")
bundled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundled)


class BuildWithBundles(build_py):
    """``build_py`` that also copies the bundled repository files into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        target = Path(self.build_lib) / "outcomes" / "scaffold" / "bundled"
        for bundle in bundled.BUNDLES:
            for relative, source in bundled.collect(bundle, HERE).items():
                dest = target / bundle / relative
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildWithBundles})
