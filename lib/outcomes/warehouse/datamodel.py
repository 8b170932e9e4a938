"""The canonical data model: the tables every export is mapped onto.

This module is the single declaration of the warehouse's tables, columns, types, keys
and rules. The pandera schemas that enforce it (:mod:`outcomes.warehouse.schemas`) and the
document ``docs/data-model.md`` are both built from it, so the three never disagree.

Logical types
-------------
``string``, ``int``, ``float``, ``bool``, ``date`` (calendar day), ``timestamp``
(an instant, stored in UTC) and ``month`` (a date on the first day of a month).

Plausible dates
---------------
Every ``date``, ``timestamp`` and ``month`` column has a plausible range: not before
:data:`EARLIEST` and not more than the column's ``future_days`` (default
:data:`FUTURE_DAYS`) after the export date (the export file's modification time). A
source can move both in ``params/sources.yaml`` (``earliest``, ``future_days``). A
value outside the range is rejected, so a mistyped year never becomes a reporting month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LogicalType = Literal["string", "int", "float", "bool", "date", "timestamp", "month"]

PRIORITIES = ("critical", "high", "medium", "low")
CHANNELS = ("phone", "email", "chat", "portal", "chatbot", "walk_in")
REQUESTER_TYPES = ("customer", "employee")
DESIGNS = ("randomized", "did", "its")
SURVEY_KINDS = ("csat", "nps")
#: Logical types that hold a date (checked against the plausible range).
TEMPORAL_TYPES = ("date", "timestamp", "month")
#: The earliest plausible date of a date or timestamp column, unless a source sets ``earliest``.
EARLIEST = "2000-01-01"
#: Days after the export date a date or timestamp may fall (clock skew, time zones), unless the
#: column or the source says otherwise.
FUTURE_DAYS = 1


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    Parameters
    ----------
    name : str
        Canonical column name.
    type : LogicalType
        Logical type; see the module docstring.
    description : str
        What the column means, in the user's words.
    required : bool
        Whether a source must provide it. Optional columns may be absent from an export
        and are then filled with nulls.
    nullable : bool
        Whether a row may leave it empty.
    allowed : tuple of str, optional
        The closed vocabulary of a category column; other values are rejected.
    min, max : float, optional
        Inclusive bounds of a numeric column.
    pii : bool
        Personal data: never shown in reports.
    future_days : int
        For a date, timestamp or month column: how many days after the export date a
        value may fall (a delivery promised for next month, a planned launch).
    """

    name: str
    type: LogicalType
    description: str
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pii: bool = False
    future_days: int = FUTURE_DAYS

    @property
    def temporal(self) -> bool:
        """Whether the column holds a date (``date``, ``timestamp`` or ``month``)."""
        return self.type in TEMPORAL_TYPES


@dataclass(frozen=True)
class RowRule:
    """A rule that relates columns of one row, as a SQL boolean expression.

    Parameters
    ----------
    name : str
        Short identifier, used in the rejects table.
    sql : str
        A DuckDB boolean expression over the canonical column names; a row passes when it
        is true or NULL (so an empty optional timestamp passes).
    message : str
        The rule in words.
    """

    name: str
    sql: str
    message: str


@dataclass(frozen=True)
class Table:
    """One canonical table.

    Parameters
    ----------
    name : str
        Table name in the warehouse.
    description : str
        What one row is.
    side : {"it", "business", "join"}
        Which side of the house owns the data.
    columns : tuple of Column
        The columns, in order.
    key : tuple of str
        The primary key: unique and never null.
    rules : tuple of RowRule
        Cross-column rules.
    """

    name: str
    description: str
    side: Literal["it", "business", "join"]
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    rules: tuple[RowRule, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table '{self.name}' has no column '{name}'; columns are {[c.name for c in self.columns]}")

    @property
    def column_names(self) -> list[str]:
        """The canonical column names, in order."""
        return [c.name for c in self.columns]


C = Column

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "tickets",
            "One service-desk ticket (incident or request) raised by a customer or an employee.",
            "it",
            (
                C("ticket_id", "string", "Ticket number in the service-desk tool."),
                C("opened_at", "timestamp", "When the ticket was opened."),
                C("first_response_at", "timestamp", "First response by an agent or bot.", required=False, nullable=True),
                C("resolved_at", "timestamp", "When it was resolved; empty while open.", required=False, nullable=True),
                C("requester_type", "string", "Who raised it.", allowed=REQUESTER_TYPES),
                C("requester_id", "string", "Customer or employee id of the requester.", nullable=True, pii=True),
                C("service", "string", "IT service the ticket is about (joins the service map)."),
                C("category", "string", "Category in the tool.", required=False, nullable=True),
                C("priority", "string", "Priority, mapped to the kit's four levels.", allowed=PRIORITIES),
                C("channel", "string", "How it came in.", allowed=CHANNELS),
                C("region", "string", "Region of the requester.", required=False, nullable=True),
                C("assignment_group", "string", "Team that resolved it.", required=False, nullable=True),
                C("reassignment_count", "int", "Times it moved between groups.", required=False, nullable=True, min=0),
                C("reopened", "bool", "Reopened after resolution.", required=False, nullable=True),
                C("first_contact_resolved", "bool", "Resolved at first contact.", required=False, nullable=True),
                C("sla_target_hours", "float", "Resolution target in hours.", required=False, nullable=True, min=0),
                C("sla_met", "bool", "Resolved within its SLA (when the tool records it).", required=False, nullable=True),
                C(
                    "configuration_item",
                    "string",
                    "Configuration item (CMDB CI) affected; links tickets to deployments on the same item.",
                    required=False,
                    nullable=True,
                ),
                C("ci_type", "string", "Type of the configuration item (application, database...).", required=False, nullable=True),
            ),
            key=("ticket_id",),
            rules=(
                RowRule("resolved_before_opened", "resolved_at >= opened_at", "resolved_at must not be before opened_at"),
                RowRule(
                    "responded_before_opened",
                    "first_response_at >= opened_at",
                    "first_response_at must not be before opened_at",
                ),
            ),
        ),
        Table(
            "incidents",
            "One service outage or degradation (a major incident).",
            "it",
            (
                C("incident_id", "string", "Incident number."),
                C("service", "string", "IT service affected."),
                C("started_at", "timestamp", "Start of the outage."),
                C("restored_at", "timestamp", "Service restored; empty while ongoing.", nullable=True),
                C("outage_minutes", "float", "Customer-facing outage minutes.", min=0),
                C("severity", "string", "Severity, mapped to the four priority levels.", allowed=PRIORITIES),
                C("deployment_id", "string", "Deployment that caused it, if any.", required=False, nullable=True),
                C("region", "string", "Region affected; empty for all regions.", required=False, nullable=True),
            ),
            key=("incident_id",),
            rules=(RowRule("restored_before_start", "restored_at >= started_at", "restored_at must not be before started_at"),),
        ),
        Table(
            "deployments",
            "One production deployment of an IT service.",
            "it",
            (
                C("deployment_id", "string", "Deployment id."),
                C("service", "string", "IT service deployed."),
                C("deployed_at", "timestamp", "When it reached production."),
                C("lead_time_hours", "float", "Commit to production, in hours.", min=0),
                C("failed", "bool", "Caused a failure in production."),
                C("restored_at", "timestamp", "When a failed change was restored.", required=False, nullable=True),
                C(
                    "unplanned",
                    "bool",
                    "Not planned: made to fix a user-facing problem in production (a hotfix, an emergency change). "
                    "Counts as rework, as does a deployment with fixes_deployment.",
                    required=False,
                    nullable=True,
                ),
                C(
                    "fixes_deployment",
                    "string",
                    "The earlier deployment whose failure this one fixes, if any (makes it rework).",
                    required=False,
                    nullable=True,
                ),
                C(
                    "configuration_item",
                    "string",
                    "Configuration item (CMDB CI) changed; links deployments to tickets on the same item.",
                    required=False,
                    nullable=True,
                ),
                C("ci_type", "string", "Type of the configuration item (application, database...).", required=False, nullable=True),
            ),
            key=("deployment_id",),
            rules=(RowRule("restored_before_deploy", "restored_at >= deployed_at", "restored_at must not be before deployed_at"),),
        ),
        Table(
            "it_costs",
            "IT cost of one service and cost line in one month.",
            "it",
            (
                C("month", "month", "Month of the cost."),
                C("service", "string", "Cost centre: the IT service the cost is booked on, or a shared centre such as 'service_desk' (params/allocation.yaml allocates it)."),
                C("cost_line", "string", "Cost line: staff, licences, infrastructure, vendors..."),
                C("amount", "float", "Cost in the reporting currency.", min=0),
            ),
            key=("month", "service", "cost_line"),
        ),
        Table(
            "employee_survey",
            "One employee's answer to the IT satisfaction survey.",
            "it",
            (
                C("response_id", "string", "Survey response id."),
                C("employee_id", "string", "Employee id.", pii=True),
                C("responded_at", "timestamp", "When they answered."),
                C("score", "int", "Satisfaction with IT, 1 (very unsatisfied) to 5 (very satisfied).", min=1, max=5),
                C("region", "string", "Employee's region.", required=False, nullable=True),
            ),
            key=("response_id",),
        ),
        Table(
            "ticket_surveys",
            "One end user's answer to the survey sent when their ticket was resolved: how happy they were "
            "and how much work time they felt they lost (experience next to the SLA).",
            "it",
            (
                C("response_id", "string", "Survey response id (ServiceNow: the assessment instance)."),
                C("ticket_id", "string", "Ticket the answer is about (joins tickets)."),
                C(
                    "respondent_type",
                    "string",
                    "Who answered; empty means the ticket's requester type.",
                    required=False,
                    nullable=True,
                    allowed=REQUESTER_TYPES,
                ),
                C("submitted_at", "timestamp", "When they answered."),
                C("happiness", "int", "How happy they were with the service, 0 (not at all) to 10 (very).", min=0, max=10),
                C(
                    "lost_minutes",
                    "float",
                    "Work time they felt they lost because of the issue, in minutes; empty when not answered.",
                    required=False,
                    nullable=True,
                    min=0,
                ),
            ),
            key=("response_id",),
        ),
        Table(
            "customers",
            "One customer.",
            "business",
            (
                C("customer_id", "string", "Customer id.", pii=True),
                C("name", "string", "Customer name.", required=False, nullable=True, pii=True),
                C("email", "string", "Customer e-mail.", required=False, nullable=True, pii=True),
                C("segment", "string", "Customer segment."),
                C("region", "string", "Region."),
                C("acquisition_channel", "string", "Channel that acquired the customer.", required=False, nullable=True),
                C("signup_date", "date", "First day as a customer."),
            ),
            key=("customer_id",),
        ),
        Table(
            "orders",
            "One order.",
            "business",
            (
                C("order_id", "string", "Order id."),
                C("customer_id", "string", "Customer who ordered.", pii=True),
                C("ordered_at", "timestamp", "When it was placed."),
                C("revenue", "float", "Revenue in the reporting currency.", min=0),
                C("margin", "float", "Gross margin in the reporting currency.", required=False, nullable=True),
                C("status", "string", "Order status as the shop records it (delivered, shipped, canceled...).", required=False, nullable=True),
                C(
                    "promised_at",
                    "timestamp",
                    "Delivery deadline promised to the customer; a delivery after it is late (a promised day ends at midnight).",
                    required=False,
                    nullable=True,
                    future_days=366,
                ),
                C("delivered_at", "timestamp", "When it reached the customer; empty until delivered.", required=False, nullable=True),
                C("shipping_fee", "float", "Shipping charged to the customer, in the reporting currency.", required=False, nullable=True, min=0),
                C("items", "int", "Number of items in the order.", required=False, nullable=True, min=0),
                C("category", "string", "Product category (the main one when the order mixes several).", required=False, nullable=True),
            ),
            key=("order_id",),
            rules=(
                RowRule("delivered_before_ordered", "delivered_at >= ordered_at", "delivered_at must not be before ordered_at"),
            ),
        ),
        Table(
            "customer_surveys",
            "One customer's answer to a CSAT (1-5) or NPS (0-10) question.",
            "business",
            (
                C("response_id", "string", "Survey response id."),
                C("customer_id", "string", "Customer who answered.", pii=True),
                C("responded_at", "timestamp", "When they answered."),
                C("kind", "string", "Which question.", allowed=SURVEY_KINDS),
                C("score", "int", "The answer: 1-5 for csat, 0-10 for nps.", min=0, max=10),
                C("order_id", "string", "Order the answer is about (post-purchase surveys).", required=False, nullable=True),
            ),
            key=("response_id",),
            rules=(
                RowRule("csat_scale", "kind <> 'csat' OR score BETWEEN 1 AND 5", "a csat score must be between 1 and 5"),
            ),
        ),
        Table(
            "churn",
            "A customer leaving: one row per customer who churned.",
            "business",
            (
                C("customer_id", "string", "Customer who left.", pii=True),
                C("churned_at", "date", "Last day as a customer."),
                C("reason", "string", "Stated reason.", required=False, nullable=True),
            ),
            key=("customer_id",),
        ),
        Table(
            "campaigns",
            "One marketing campaign's activity in one month.",
            "business",
            (
                C("campaign_id", "string", "Campaign id."),
                C("month", "month", "Month of activity (a planned month may lie up to a year ahead).", future_days=366),
                C("name", "string", "Campaign name.", required=False, nullable=True),
                C("channel", "string", "Marketing channel."),
                C("region", "string", "Region targeted; empty for all.", required=False, nullable=True),
                C("spend", "float", "Spend in the reporting currency.", min=0),
                C("visits", "int", "Visits attributed.", required=False, nullable=True, min=0),
                C("conversions", "int", "New customers (conversions) attributed.", required=False, nullable=True, min=0),
            ),
            key=("campaign_id", "month"),
        ),
        Table(
            "service_map",
            "How an IT service serves the business: one row per service and region.",
            "join",
            (
                C("service", "string", "IT service."),
                C("journey", "string", "Customer journey it supports (e.g. buy, pay, get help)."),
                C("capability", "string", "Business capability."),
                C("region", "string", "Region it serves."),
                C("customer_facing", "bool", "Whether customers use it directly."),
            ),
            key=("service", "region"),
        ),
        Table(
            "initiatives",
            "One IT initiative in the register.",
            "join",
            (
                C("initiative_id", "string", "Initiative id."),
                C("name", "string", "Name."),
                C("hypothesis", "string", "What it is expected to change, and for whom."),
                C("design", "string", "How it is evaluated.", allowed=DESIGNS),
                C("unit", "string", "Unit of assignment or rollout: customer, region, service."),
                C("treated_units", "string", "Comma-separated treated units (non-randomized designs).", nullable=True),
                C("start_date", "date", "Launch date (a planned initiative may start up to two years ahead).", future_days=731),
                C("one_off_cost", "float", "One-off investment.", min=0),
                C("recurring_cost_monthly", "float", "Running cost per month.", min=0),
                C("primary_metric", "string", "Primary metric id in the catalog."),
                C("guardrail_metrics", "string", "Comma-separated guardrail metric ids.", required=False, nullable=True),
                C("active", "bool", "Still being evaluated."),
            ),
            key=("initiative_id",),
        ),
        Table(
            "assignments",
            "One unit's arm in a randomized initiative.",
            "join",
            (
                C("initiative_id", "string", "Initiative id."),
                C("unit_id", "string", "Randomized unit (e.g. a customer id).", pii=True),
                C("arm", "string", "Arm: control or a treatment name."),
                C("assigned_at", "date", "Date of assignment."),
            ),
            key=("initiative_id", "unit_id"),
        ),
    )
}


#: The column that places a row of a canonical table in a month (a table absent here, such
#: as the service map, has no month). Assignments are dated too (``assigned_at``), but only
#: the pages' data check reads them by month (:data:`outcomes.report.needs.DATED_BY`).
MONTH_COLUMNS: dict[str, str] = {
    "tickets": "opened_at",
    "incidents": "started_at",
    "deployments": "deployed_at",
    "it_costs": "month",
    "employee_survey": "responded_at",
    "ticket_surveys": "submitted_at",
    "customers": "signup_date",
    "orders": "ordered_at",
    "customer_surveys": "responded_at",
    "churn": "churned_at",
    "campaigns": "month",
}

#: The column naming a month partition (folders ``month=YYYY-MM``) in a month-partitioned
#: Parquet export of the warehouse (``spark.data.partition_by_month``).
PARTITION_COLUMN = "month"
#: The event tables such an export splits by month: table -> the timestamp (never empty)
#: whose month names the partition. They are the tables that grow with the business; the
#: others stay one file each.
MONTH_PARTITIONS: dict[str, str] = {t: MONTH_COLUMNS[t] for t in ("tickets", "ticket_surveys", "orders", "customer_surveys")}


def table(name: str) -> Table:
    """Return the canonical table called ``name``, or raise with the valid names."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no canonical table '{name}'; tables are: {', '.join(TABLES)}") from None
