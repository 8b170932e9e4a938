"""Small value models for the ROI tests: ticket-prevention initiatives with known arithmetic."""

from __future__ import annotations

from outcomes.params import validate
from outcomes.value.model import ValueModel


def ticket_initiative(name: str, effect: dict, count: int) -> dict:
    """A ticket-prevention initiative: ``count`` customers, 10,000 up front and 500 a month."""
    return {
        "name": name,
        "metric": "tickets_per_customer",
        "effect": effect,
        "money": "tickets_prevented",
        "population": {"description": "customers", "count": count},
        "costs": {"initial": 10_000, "recurring_monthly": 500},
    }


def ticket_model(initiatives: dict[str, dict], cost_per_ticket: float | dict = 20, *, where: str) -> ValueModel:
    """A value model of the given initiatives; every input fixed but ``cost_per_ticket``."""
    return validate(
        ValueModel,
        {
            "inputs": {
                "cost_per_ticket": cost_per_ticket,
                "agent_hourly_rate": 40,
                "employee_hourly_rate": 60,
                "outage_revenue_per_minute": 500,
                "revenue_per_conversion": 100,
                "conversion_margin": 0.3,
            },
            "segments": {"all": {"customers": 1000, "arpu_monthly": 10, "gross_margin": 0.5, "churn_rate": 0.05}},
            "initiatives": initiatives,
        },
        where,
    )
