"""Reading parameters files: dates stay strings, and a broken file is named with the place of the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from outcomes.errors import ParamsError
from outcomes.params import read_yaml


def test_dates_stay_strings_and_scalars_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("day: 2025-01-31\nat: 2025-01-31 10:00:00\nvalues: [1, 2.5, true, null]\n", encoding="utf-8")
    assert read_yaml(path) == {"day": "2025-01-31", "at": "2025-01-31 10:00:00", "values": [1, 2.5, True, None]}


def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\nb: 3\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"(?s)broken.yaml is not valid YAML: .*line 2"):
        read_yaml(path)
