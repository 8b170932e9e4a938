"""The demo company, Northwind Outfitters: its calendar, regions, services and planted truths.

Everything the simulator treats as fixed lives here, in one place: the reporting period,
the regions and segments, the IT services and what they serve, and :class:`Planted`, the
causal effects the analyses are expected to find. ``docs/demo-company.md`` describes the
same company in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from outcomes.periods import Month, Window

COMPANY = "Northwind Outfitters"
CURRENCY = "EUR"
PERIOD_START = "2024-01"
PERIOD_END = "2025-12"
#: The exports were all taken at this instant (UTC): later events are not in them.
EXPORTED_AT = np.datetime64("2026-01-01T00:00:00", "s")

REGIONS = ("north", "south", "east", "west", "central")
REGION_SHARES = (0.24, 0.22, 0.20, 0.19, 0.15)
SEGMENTS = ("consumer", "smb", "enterprise")
SEGMENT_SHARES = (0.72, 0.23, 0.05)

#: Customer tickets per customer-month, by segment (before any deflection).
TICKET_RATE = (0.10, 0.20, 0.60)
#: Orders per customer-month, and median order value (EUR), by segment.
ORDER_RATE = (0.35, 1.2, 3.0)
ORDER_MEDIAN_EUR = (60.0, 450.0, 3500.0)
#: Relative monthly churn risk by segment (normalised to the starting mix in :mod:`population`).
CHURN_RISK = (1.15, 0.90, 0.50)

ACQUISITION_CHANNELS = ("paid_search", "paid_social", "display", "affiliate", "email", "referral", "organic", "partner")
#: Acquisition channel probabilities by segment (rows: consumer, smb, enterprise).
ACQUISITION_MIX = (
    (0.28, 0.22, 0.08, 0.10, 0.07, 0.10, 0.15, 0.00),
    (0.30, 0.10, 0.05, 0.05, 0.10, 0.15, 0.15, 0.10),
    (0.10, 0.00, 0.00, 0.00, 0.10, 0.20, 0.10, 0.50),
)
#: Paid channels run campaigns: acquisition cost (EUR per conversion) and cost per visit.
CAMPAIGN_CHANNELS = {
    "paid_search": (90.0, 1.8),
    "paid_social": (110.0, 0.9),
    "display": (150.0, 0.6),
    "affiliate": (70.0, 1.2),
    "email": (25.0, 0.15),
}


@dataclass(frozen=True)
class Service:
    """One IT service of the company.

    Parameters
    ----------
    name : str
        Display name (the ServiceNow configuration item).
    slug : str
        Repository name in the CI/CD tool; ``None`` when nothing is deployed.
    journey, capability : str
        The customer journey and business capability it supports.
    customer_facing : bool
        Whether customers use it directly.
    team : str
        Assignment group that resolves its tickets.
    customer_share, employee_share : float
        Share of customer and of employee tickets about this service.
    categories : tuple of str
        Ticket categories seen for it.
    monthly_cost_eur : float
        Run cost per month at scale 1 (licences, infrastructure, vendors, staff).
    """

    name: str
    slug: str | None
    journey: str
    capability: str
    customer_facing: bool
    team: str
    customer_share: float
    employee_share: float
    categories: tuple[str, ...]
    monthly_cost_eur: float


SERVICES: tuple[Service, ...] = (
    Service("Web Shop", "web-shop", "buy", "Digital sales", True, "Digital Commerce", 0.25, 0.07,
            ("order", "inquiry", "software"), 210_000),
    Service("Mobile App", "mobile-app", "buy", "Digital sales", True, "Digital Commerce", 0.20, 0.03,
            ("software", "inquiry", "account"), 160_000),
    Service("Payments", "payments", "pay", "Payments", True, "Payments Operations", 0.15, 0.02,
            ("payment", "inquiry"), 140_000),
    Service("Order Management", "order-management", "deliver", "Fulfilment", True, "Enterprise Applications", 0.12, 0.08,
            ("order", "inquiry", "software"), 120_000),
    Service("Delivery Tracking", "delivery-tracking", "deliver", "Fulfilment", True, "Digital Commerce", 0.12, 0.02,
            ("delivery", "inquiry"), 60_000),
    Service("Customer Identity", "customer-identity", "account", "Customer accounts", True, "Identity & Access", 0.10, 0.03,
            ("account", "password reset"), 70_000),
    Service("Loyalty & Rewards", "loyalty", "get help", "Customer care", True, "Digital Commerce", 0.06, 0.01,
            ("inquiry", "account"), 45_000),
    Service("Email & Collaboration", "collab-suite", "work", "Workplace", False, "Workplace IT", 0.0, 0.20,
            ("software", "access", "inquiry"), 90_000),
    Service("Laptops & Devices", None, "work", "Workplace", False, "Workplace IT", 0.0, 0.22,
            ("hardware", "software"), 110_000),
    Service("ERP Finance", "erp-finance", "run the business", "Finance", False, "Enterprise Applications", 0.0, 0.10,
            ("software", "access", "database"), 130_000),
    Service("HR System", "hr-system", "run the business", "People", False, "Enterprise Applications", 0.0, 0.07,
            ("access", "inquiry"), 50_000),
    Service("Network & VPN", None, "work", "Workplace", False, "Network Operations", 0.0, 0.12,
            ("network", "access"), 85_000),
    Service("Data Platform", "data-platform", "run the business", "Analytics", False, "Data Platform", 0.0, 0.03,
            ("database", "access", "software"), 95_000),
)

#: The service desk's own cost centre in the finance export.
SERVICE_DESK = "Service Desk"
FIRST_LINE_GROUP = "Service Desk L1"

PRIORITY_LABELS = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
PRIORITY_SHARES = (0.02, 0.13, 0.55, 0.30)
#: First-response time by priority relative to the queue's mean, normalised to mean 1 over the priority mix.
PRIORITY_RESPONSE = np.array([0.3, 0.6, 1.05, 1.25]) / float(np.dot([0.3, 0.6, 1.05, 1.25], PRIORITY_SHARES))
#: Resolution target (hours from opening) and median work time after first response, by priority.
SLA_TARGET_HOURS = (4.0, 8.0, 24.0, 72.0)
WORK_MEDIAN_HOURS = (1.2, 3.5, 9.0, 20.0)

CHANNELS = ("phone", "email", "chat", "portal", "chatbot", "walk_in")
CONTACT_TYPES = ("Phone", "Email", "Chat", "Self-service", "Virtual Agent", "Walk-in")
#: Channel mix of customer tickets without the new portal (self-service share 0.21) ...
CUSTOMER_CHANNELS = (0.35, 0.28, 0.16, 0.13, 0.08, 0.0)
#: ... and of employee tickets.
EMPLOYEE_CHANNELS = (0.25, 0.25, 0.10, 0.25, 0.08, 0.07)
#: Probability of resolution at first contact, by channel.
FCR_BY_CHANNEL = (0.55, 0.25, 0.50, 0.20, 0.35, 0.60)

FIRST_NAMES = (
    "Ava", "Liam", "Mia", "Noah", "Emma", "Lucas", "Sofia", "Elias", "Ines", "Hugo", "Lena", "Arjun",
    "Zoe", "Mateo", "Nora", "Omar", "Freya", "Tariq", "Chloe", "Kenji", "Amara", "Finn", "Leila", "Jonas",
    "Priya", "Oscar", "Yara", "Milan", "Ida", "Rafael", "Hanna", "Theo", "Aisha", "Emil", "Clara", "Sami",
)
LAST_NAMES = (
    "Lindqvist", "Okafor", "Moreau", "Jansen", "Novak", "Costa", "Schmidt", "Haddad", "Kowalski", "Murphy",
    "Rossi", "Nakamura", "Berg", "Dubois", "Silva", "Andersen", "Fischer", "Khan", "Larsen", "Petrov",
    "Ortega", "Visser", "Brennan", "Ivanova", "Mensah", "Keller", "Sato", "Horvat", "Quinn", "Varga",
)
CHURN_REASONS = ("Price", "Service experience", "Moved to competitor", "No longer needed", "Moved away", "Other")


@dataclass(frozen=True)
class Planted:
    """The causal truths planted in the demo company; ``ground_truth.json`` reports them.

    Parameters
    ----------
    first_response_base_hours : float
        Mean first response of customer tickets in an average region-month.
    first_response_region_hours : tuple of float
        Region effects on the mean first response (order of :data:`REGIONS`).
    first_response_season_hours : float
        Amplitude of the seasonal swing (peak in December).
    staffing_shock_sd_hours : float
        Standard deviation of the region-month staffing shocks (truncated at 2.5 sd):
        the variation in first response that the drivers model learns from.
    csat_base, csat_region : float, tuple of float
        CSAT (share of 4-5 answers) at the reference first response, and region offsets.
    csat_per_hour : float
        Planted link: change in a region-month's CSAT per +1 hour of its mean first response.
    churn_base, churn_region : float, tuple of float
        Monthly churn probability at the reference first response, and region offsets.
    churn_rate_per_hour : float
        Planted link: change in monthly churn probability per +1 hour of mean first response.
    portal_start, portal_share : str, float
        Randomisation date of the self-service portal and the share assigned to it.
    self_service_control, self_service_treatment : float
        Share of customer tickets opened through portal or chatbot, without and with the portal.
    portal_ticket_multiplier : float
        Ticket rate of portal customers relative to control (deflection).
    chatbot_start, chatbot_regions, chatbot_first_response_hours : str, tuple, float
        The chatbot rollout and its effect on the mean first response of customer tickets.
    releases_start, lead_time_base_hours, lead_time_trend_hours, lead_time_drop_hours : str, float
        Faster releases: mean lead time before, its monthly trend, and the level change.
    releases_frequency_multiplier : float
        Deployments per month after the change relative to before.
    reference_first_response_hours : float
        Mean first response at which csat and churn equal their base values.
    """

    first_response_base_hours: float = 3.4
    first_response_region_hours: tuple[float, ...] = (0.4, -0.2, 0.6, 0.0, -0.3)
    first_response_season_hours: float = 0.3
    staffing_shock_sd_hours: float = 0.45
    csat_base: float = 0.80
    csat_region: tuple[float, ...] = (0.00, -0.02, 0.02, -0.01, 0.01)
    csat_per_hour: float = -0.02
    churn_base: float = 0.020
    churn_region: tuple[float, ...] = (0.000, 0.002, -0.002, 0.001, -0.001)
    churn_rate_per_hour: float = 0.0015
    portal_start: str = "2025-07-01"
    portal_share: float = 0.5
    self_service_control: float = 0.21
    self_service_treatment: float = 0.27
    portal_ticket_multiplier: float = 0.85
    chatbot_start: str = "2025-03-01"
    chatbot_regions: tuple[str, ...] = ("north", "east")
    chatbot_first_response_hours: float = -1.0
    releases_start: str = "2025-01-01"
    lead_time_base_hours: float = 72.0
    lead_time_trend_hours: float = -0.3
    lead_time_drop_hours: float = -24.0
    releases_frequency_multiplier: float = 1.25
    reference_first_response_hours: float = 3.4


def months() -> np.ndarray:
    """Return the first day of every month of the period, as ``datetime64[D]``."""
    return np.array([m.start for m in Window(PERIOD_START, PERIOD_END)], dtype="datetime64[D]")


def month_label(month_start: np.datetime64) -> str:
    """Return ``YYYY-MM`` for a month's first day."""
    return str(Month.of(pd.Timestamp(month_start)))
