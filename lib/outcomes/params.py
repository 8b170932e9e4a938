"""Typed, frozen parameters loaded from YAML once, at the entry point.

Every parameters file of the kit (``params/*.yaml``) is described by a pydantic model
derived from :class:`Params`. Unknown keys are errors: papermill only warns about them,
and a misspelt key silently falling back to its default is the worst kind of bug in a
scheduled report.
"""

from __future__ import annotations

import collections.abc
import difflib
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from outcomes.errors import ParamsError

P = TypeVar("P", bound="Params")


class Params(BaseModel):
    """Base of every parameters model: frozen, and unknown keys are forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class _NoDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader that keeps dates as strings, so that the models parse them.

    It parses with libyaml where PyYAML has it (ten times as fast as the pure-Python
    parser: the metric catalog is read at the start of every notebook).
    """


_NoDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with dates kept as strings.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Any
        The parsed document (``{}`` for an empty file).

    Raises
    ------
    ParamsError
        When the file is missing or is not valid YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"parameters file {path} not found; create it or pass another path")
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.load(fh, Loader=_NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from exc
    return {} if doc is None else doc


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Walk ``loc`` through nested pydantic models and return the model holding the last key."""
    current: Any = model
    keyed = False  # the previous part was a mapping field: this part is one of its keys
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        if keyed:
            keyed = False
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        keyed = _is_mapping(field.annotation)
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _is_mapping(annotation: Any) -> bool:
    """Whether a type annotation is a mapping (``dict[str, M]``, possibly inside ``| None``)."""
    if typing.get_origin(annotation) in (dict, collections.abc.Mapping):
        return True
    return any(_is_mapping(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _inner_model(annotation: Any) -> Any:
    """Return the first pydantic model found inside a type annotation (list[M], M | None, dict[str, M])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """Turn a pydantic error into sentences that name the file, the key and the valid keys.

    Parameters
    ----------
    exc : ValidationError
        The error raised by pydantic.
    model : type
        The model that was validated.
    source : str
        Where the values came from (a file path, or a description).

    Returns
    -------
    str
        One line per problem.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            valid = sorted(owner.model_fields) if owner is not None else []
            name = str(loc[-1]) if loc else key
            hint = difflib.get_close_matches(name, valid, n=1)
            msg = f"{source}: unknown key '{key}'"
            if hint:
                msg += f" (did you mean '{hint[0]}'?)"
            msg += f"; valid keys are: {', '.join(valid)}"
        elif err["type"] == "missing":
            msg = f"{source}: required key '{key}' is missing"
        else:
            msg = f"{source}: key '{key}' has value {err.get('input')!r}: {err['msg']}"
        lines.append(msg)
    return "\n".join(lines)


def validate(model: type[P], data: Any, source: str = "parameters") -> P:
    """Validate a mapping into a frozen parameters object.

    Parameters
    ----------
    model : type
        A subclass of :class:`Params`.
    data : Any
        The mapping (usually parsed YAML).
    source : str
        Named in error messages.

    Returns
    -------
    Params
        The validated, frozen object.

    Raises
    ------
    ParamsError
        Naming the file, the key and the valid keys.
    """
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping of keys to values, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, model, source)) from None


def load(path: str | Path, model: type[P]) -> P:
    """Read a YAML parameters file and validate it into ``model``.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    model : type
        A subclass of :class:`Params`.

    Returns
    -------
    Params
        The validated, frozen object.
    """
    return validate(model, read_yaml(path), source=str(path))
