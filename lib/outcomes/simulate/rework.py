"""Unplanned fix deployments: the rework that follows risky releases.

The CI/CD tool has a hotfix pipeline beside the release pipeline: an unplanned deployment
that repairs a user-facing problem an earlier deployment caused goes through it, and its
export (``deployment_fixes.csv``) names the deployment it fixes. Any release is followed by
such a fix with a small background probability; releases of one service on a Friday (the
risky ones, deployed before a weekend with less review and fewer people watching) are
followed by a fix much more often. The fixes come from their own random stream, so every
other export of the demo company is the same with or without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world
from outcomes.simulate.it_delivery import DEPLOYED, _iso
from outcomes.simulate.population import ids

FIXES_EXPORT = "deployment_fixes.csv"
#: 1970-01-01 was a Thursday: (days since the epoch + 3) % 7 numbers Monday 0 to Sunday 6.
FRIDAY = 4
_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("service", pa.string()),
        ("environment", pa.string()),
        ("finished_at", pa.string()),
        ("lead_time_hours", pa.float64()),
        ("status", pa.string()),
        ("fixes", pa.string()),
    ]
)


@dataclass(frozen=True)
class Rework:
    """The planted rework pattern.

    Parameters
    ----------
    service : str
        Repository (slug) of the service whose Friday releases are risky.
    risky_fix_probability : float
        Probability that a risky release is followed by an unplanned fix.
    background_fix_probability : float
        Probability that any other release is followed by one.
    fix_after_hours : tuple of float
        The fix reaches production uniformly between these many hours after the release.
    fix_lead_time_hours : float
        Mean commit-to-production time of a fix (gamma, shape 2).
    """

    service: str = "payments"
    risky_fix_probability: float = 0.6
    background_fix_probability: float = 0.03
    fix_after_hours: tuple[float, float] = (6.0, 72.0)
    fix_lead_time_hours: float = 4.0


@dataclass
class ReworkTally:
    """Deployments and fixes per service over the period, for ``ground_truth.json``."""

    deployments: np.ndarray = field(default_factory=lambda: np.zeros(len(DEPLOYED), dtype=np.int64))
    fixes: np.ndarray = field(default_factory=lambda: np.zeros(len(DEPLOYED), dtype=np.int64))

    def truth(self, rework: Rework) -> dict:
        """The planted pattern and the realised rework rates (all deployments of the period)."""
        slugs = [s.slug for s in DEPLOYED]
        names = [s.name for s in DEPLOYED]
        at = slugs.index(rework.service)
        total = self.deployments + self.fixes
        others = np.arange(len(DEPLOYED)) != at
        return {
            "metric": "deployment_rework_rate",
            "definition": (
                "unplanned fix deployments (deployment_fixes.csv) / all deployments (deployments.csv and "
                "deployment_fixes.csv) over the whole period; a fix names the release it repairs"
            ),
            "service": names[at],
            "risky": "releases of the service deployed on a Friday",
            "risky_fix_probability": rework.risky_fix_probability,
            "background_fix_probability": rework.background_fix_probability,
            "fix_after_hours": list(rework.fix_after_hours),
            "deployments": int(total.sum()),
            "rework_deployments": int(self.fixes.sum()),
            "overall": round(float(self.fixes.sum() / total.sum()), 6),
            "service_rate": round(float(self.fixes[at] / total[at]), 6),
            "other_services_rate": round(float(self.fixes[others].sum() / total[others].sum()), 6),
        }


def month_fixes(
    rng: np.random.Generator,
    releases: pa.Table,
    *,
    rework: Rework,
    first_fix: int,
    tally: ReworkTally,
) -> pa.Table:
    """The unplanned fix deployments that follow one month's releases.

    Parameters
    ----------
    rng : numpy.random.Generator
        The rework stream (its own, so the other exports do not change).
    releases : pyarrow.Table
        The month's release-pipeline export rows (``deployments.csv``).
    rework : Rework
        The planted pattern.
    first_fix : int
        Number of the month's first fix.
    tally : ReworkTally
        Counts of releases and fixes per service, updated in place.

    Returns
    -------
    pyarrow.Table
        The hotfix-pipeline export rows (``deployment_fixes.csv``), in time order; fixes that
        would reach production after the export date are not in it.
    """
    slugs = [s.slug for s in DEPLOYED]
    service = np.array([slugs.index(s) for s in releases["service"].to_pylist()], dtype=np.int64)
    at = pc.strptime(releases["finished_at"], format="%Y-%m-%dT%H:%M:%SZ", unit="s").cast(pa.int64()).to_numpy()
    n = len(at)
    friday = (at // 86_400 + 3) % 7 == FRIDAY
    risky = friday & (service == slugs.index(rework.service))
    chance = np.where(risky, rework.risky_fix_probability, rework.background_fix_probability)
    draw = rng.random(n)
    delay = rng.uniform(*rework.fix_after_hours, n) * 3_600
    lead = np.round(rng.gamma(2.0, rework.fix_lead_time_hours / 2.0, n), 2)
    fix_at = at + np.round(delay).astype(np.int64)
    fixed = (draw < chance) & (fix_at <= int(world.EXPORTED_AT.astype(np.int64)))
    rows = np.flatnonzero(fixed)
    rows = rows[np.argsort(fix_at[rows], kind="stable")]
    m = len(rows)
    np.add.at(tally.deployments, service, 1)
    np.add.at(tally.fixes, service[rows], 1)
    return pa.table(
        {
            "id": ids("hfx-", np.arange(first_fix, first_fix + m), 7),
            "service": pa.array([slugs[i] for i in service[rows]], pa.string()),
            "environment": pa.array(np.full(m, "production"), pa.string()),
            "finished_at": _iso(fix_at[rows]),
            "lead_time_hours": pa.array(lead[rows], pa.float64()),
            "status": pa.array(np.full(m, "success"), pa.string()),
            "fixes": releases["id"].take(pa.array(rows, pa.int64())),
        },
        schema=_SCHEMA,
    )
