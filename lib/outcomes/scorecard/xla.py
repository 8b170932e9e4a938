"""Experience level agreements (XLAs) next to the SLAs, per IT service.

The ``xla`` section of ``params/targets.yaml`` declares, for every IT service (``default``)
and for named services (``services``), the SLA promise (share of tickets resolved within
their resolution target) and the experience promise (ticket happiness and perceived lost
time per ticket). A level not given falls back to the ``default`` level, then to the
scorecard's target of the same metric. The watermelon check
(:mod:`outcomes.scorecard.watermelon`) reads them.

Example
-------
.. code-block:: yaml

    xla:
      default:
        sla_attainment: 0.80      # the SLA agreed per service
        ticket_happiness: 40      # the XLA: % of 9-10 minus % of 0-6 answers
        lost_time_hours: 3.0      # the XLA: mean perceived lost time per ticket
      services:
        Payments: {sla_attainment: 0.85}
      min_responses: 30           # fewer answers in a service-month: experience not judged
"""

from __future__ import annotations

from pydantic import Field

from outcomes.params import Params

#: The metrics an XLA level sets, in the order they are read: the SLA, then the experience.
LEVEL_METRICS: tuple[str, ...] = ("sla_attainment", "ticket_happiness", "lost_time_hours")


class ServiceLevels(Params):
    """The SLA and the XLA of one service (or of every service).

    Parameters
    ----------
    sla_attainment : float, optional
        SLA: the share of tickets resolved within their resolution target (0-1).
    ticket_happiness : float, optional
        XLA: the lowest acceptable ticket happiness (-100 to 100).
    lost_time_hours : float, optional
        XLA: the highest acceptable mean perceived lost time per ticket, in hours.
    """

    sla_attainment: float | None = Field(None, ge=0, le=1)
    ticket_happiness: float | None = Field(None, ge=-100, le=100)
    lost_time_hours: float | None = Field(None, ge=0)


class Xla(Params):
    """The ``xla`` section of ``params/targets.yaml``.

    Parameters
    ----------
    default : ServiceLevels
        The levels of every service not named under ``services``.
    services : dict
        Service name (as in the tickets and the service map) -> its levels; a level it
        leaves out is the default's.
    min_responses : int
        A service-month with fewer survey answers is not judged on experience.
    """

    default: ServiceLevels = ServiceLevels()
    services: dict[str, ServiceLevels] = {}
    min_responses: int = Field(30, ge=1)

    def levels(self, service: str) -> ServiceLevels:
        """The levels of ``service``: its own where given, else the default's."""
        own = self.services.get(service)
        if own is None:
            return self.default
        given = own.model_dump(exclude_none=True)
        return self.default.model_copy(update=given)


__all__ = ["LEVEL_METRICS", "ServiceLevels", "Xla"]
