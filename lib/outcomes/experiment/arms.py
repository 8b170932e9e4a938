"""The arms of a randomized initiative as its data hold them, checked against its parameters.

A control value that the data never write, or data with a single arm, is a mistake in the
initiative's file (``data.control``, ``data.arm``), not a reason to keep testing.
:func:`arm_problem` states it in one sentence; :func:`check_arms` raises it before any
kernel starts (``outcomes analyze``, the monthly run's preparation), and
:func:`with_arm_setup` turns the same sentence into a condition that stops the initiative
(:data:`~outcomes.experiment.results.ARM_SETUP`) in a review that runs anyway. The
engines keep their own reading of the arms they were given (an arm without units keeps
testing). :func:`arms_found` reads only the distinct values of the arm column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import ibis
import pandas as pd

from outcomes import config
from outcomes.errors import ParamsError
from outcomes.experiment.decision import from_conditions
from outcomes.experiment.results import ARM_SETUP, Condition, InitiativeResult
from outcomes.experiment.spec import InitiativeSpec


def data_source(spec: InitiativeSpec) -> str:
    """Where the initiative's arms are read: its table, or the warehouse's ``assignments``."""
    if spec.data.table:
        return str(spec.data.table)
    return f"the warehouse's assignments table (initiative_id {spec.id!r})"


def arms_found(spec: InitiativeSpec, con: ibis.BaseBackend | None = None) -> list[str]:
    """The distinct arm values of the initiative's data, as text, sorted (missing values left out).

    Parameters
    ----------
    spec : InitiativeSpec
        A randomized initiative.
    con : ibis.BaseBackend, optional
        The warehouse, for an initiative without ``data.table``.

    Returns
    -------
    list of str

    Raises
    ------
    ParamsError
        When the table is missing or has no column ``data.arm``.
    """
    arm = str(spec.data.arm)
    if not spec.data.table:
        if con is None:
            raise ParamsError(f"initiative {spec.id!r}: no data.table and no warehouse to read its arms from")
        a = con.table("assignments")
        values = a.filter(a.initiative_id == spec.id).select("arm").distinct().to_pandas()["arm"]
        return sorted(values.dropna().astype(str).unique().tolist())
    path = config.resolve(spec.data.table)
    if not path.is_file():
        raise ParamsError(f"initiative {spec.id!r}: data.table {str(path)!r} not found; check the path")
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            column = pd.read_parquet(path, columns=[arm])[arm]
        else:
            column = pd.read_csv(path, usecols=[arm], dtype=str)[arm]
    except (KeyError, ValueError) as exc:
        raise ParamsError(
            f"initiative {spec.id!r}: data.arm {arm!r} is not a column of {spec.data.table} ({exc}); "
            "set data.arm to the column holding each unit's arm"
        ) from None
    return sorted(column.dropna().astype(str).unique().tolist())


def arm_problem(spec: InitiativeSpec, found: Iterable[str]) -> str | None:
    """The sentence saying why the data's arms do not fit ``data.control``/``data.arm``, or None.

    Parameters
    ----------
    spec : InitiativeSpec
        A randomized initiative.
    found : iterable of str
        The arm values of its data (those with units).

    Returns
    -------
    str or None
        Names the key, its value, where the arms were read and the arm values found.
    """
    arms = sorted({str(a) for a in found})
    shown = ", ".join(repr(a) for a in arms) or "none"
    where = data_source(spec)
    control = str(spec.data.control)
    if control not in arms:
        return (
            f"data.control is {control!r}, but the arm column {spec.data.arm!r} of {where} has no such value; "
            f"the arm values found are {shown}: set data.control to the control arm's value as the data write it"
        )
    if len(arms) < 2:
        return (
            f"data.arm {spec.data.arm!r} of {where} holds a single arm value ({shown}): a randomized comparison "
            "needs the control and at least one treatment arm; check that data.arm names the column of the arms "
            "and that the data hold every arm"
        )
    return None


def check_arms(spec: InitiativeSpec, source: str | Path, con: ibis.BaseBackend | None = None) -> None:
    """Refuse a randomized initiative whose data's arms do not fit its parameters.

    Parameters
    ----------
    spec : InitiativeSpec
        The initiative; other designs pass unchecked.
    source : str or Path
        Its parameters file, named in the error.
    con : ibis.BaseBackend, optional
        The warehouse, for an initiative without ``data.table``.

    Raises
    ------
    ParamsError
        ``<file>: <the sentence of arm_problem>``.
    """
    if spec.design != "randomized":
        return
    problem = arm_problem(spec, arms_found(spec, con))
    if problem is not None:
        raise ParamsError(f"{source}: {problem}")


def with_arm_setup(spec: InitiativeSpec, result: InitiativeResult) -> InitiativeResult:
    """The result with the sentence of :func:`arm_problem` as a condition that stops it, when there is one.

    Parameters
    ----------
    spec : InitiativeSpec
        The randomized initiative analysed.
    result : InitiativeResult
        Its result; ``arm_sizes`` gives the arms with units.

    Returns
    -------
    InitiativeResult
        ``result`` itself when the arms fit, else with an
        :data:`~outcomes.experiment.results.ARM_SETUP` condition first and the decision
        "stop" stating the sentence.
    """
    problem = arm_problem(spec, [a for a, n in result.arm_sizes.items() if n > 0])
    if problem is None:
        return result
    conditions = (Condition(ARM_SETUP, problem, "stop"), *result.conditions)
    return replace(result, conditions=conditions, decision=from_conditions(conditions))
