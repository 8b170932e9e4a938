"""Who the company serves and who works there: customers (with their arms and churn) and employees.

The customer state is the only thing the simulator keeps for the whole period: a few
small numpy arrays per customer. Everything that happens to customers (tickets, orders,
surveys) is generated month by month from it and written out straight away.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outcomes.simulate import world

#: Day number (days since 1970-01-01) meaning "has not churned".
NEVER = np.iinfo(np.int32).max
#: Customers at the start of the period, and new customers per month, at scale 1.
BASE_CUSTOMERS = 16_000
SIGNUPS_PER_MONTH = 450
#: Employees at scale 1.
BASE_EMPLOYEES = 1_200
FIRST_SIGNUP = np.datetime64("2017-01-01", "D")


def day_number(day: np.datetime64) -> int:
    """Return a calendar day as days since 1970-01-01."""
    return int(np.datetime64(day, "D").astype(np.int64))


def _draw(rng: np.random.Generator, shares: tuple[float, ...] | np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` category codes with the given shares."""
    p = np.asarray(shares, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int8)


def draw_by_row(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per element, each from the probability row ``table[rows[i]]``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    table : ndarray, shape (groups, categories)
        Probabilities per group (rows need not be normalised).
    rows : ndarray of int
        The group of each element.

    Returns
    -------
    ndarray of int8
        A category code per element.
    """
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return (u[:, None] >= cdf[rows]).sum(axis=1).astype(np.int8)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Return ids such as ``C00000042``: ``prefix`` and the zero-padded number."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def labels(names: tuple[str, ...] | list[str], codes: np.ndarray) -> pa.Array:
    """Return ``names[codes[i]]`` for every code, as Arrow strings (no per-row Python objects)."""
    return pa.array(list(names), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def customer_ids(numbers: np.ndarray) -> pa.Array:
    """Customer ids (``C`` and eight digits)."""
    return ids("C", numbers, 8)


def employee_ids(numbers: np.ndarray) -> pa.Array:
    """Employee ids (``E`` and six digits)."""
    return ids("E", numbers, 6)


@dataclass
class Customers:
    """Every customer created so far, as parallel arrays indexed by ``number - 1``.

    Attributes
    ----------
    signup : ndarray of int32
        Signup day (days since 1970-01-01).
    segment, region, channel : ndarray of int8
        Codes into :data:`world.SEGMENTS`, :data:`world.REGIONS`, :data:`world.ACQUISITION_CHANNELS`.
    portal : ndarray of bool
        The portal arm the customer would get if randomised (drawn at creation).
    churn : ndarray of int32
        Last day as a customer, or :data:`NEVER`.
    """

    signup: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    channel: np.ndarray
    portal: np.ndarray
    churn: np.ndarray

    @property
    def count(self) -> int:
        """Number of customers created so far."""
        return len(self.signup)

    @classmethod
    def empty(cls) -> Customers:
        """A company with no customers yet."""
        return cls(*(np.empty(0, dtype=t) for t in (np.int32, np.int8, np.int8, np.int8, bool, np.int32)))

    def sign_up(self, rng: np.random.Generator, days: np.ndarray, portal_share: float) -> slice:
        """Add customers who signed up on ``days``; return the slice of their positions.

        Parameters
        ----------
        rng : numpy.random.Generator
            Random stream.
        days : ndarray of int
            Signup day of each new customer.
        portal_share : float
            Probability of the portal arm.

        Returns
        -------
        slice
            Positions of the new customers in the arrays.
        """
        n = len(days)
        segment = _draw(rng, world.SEGMENT_SHARES, n)
        region = _draw(rng, world.REGION_SHARES, n)
        channel = draw_by_row(rng, np.array(world.ACQUISITION_MIX), segment)
        portal = rng.random(n) < portal_share
        start = self.count
        self.signup = np.concatenate([self.signup, np.sort(days).astype(np.int32)])
        self.segment = np.concatenate([self.segment, segment])
        self.region = np.concatenate([self.region, region])
        self.channel = np.concatenate([self.channel, channel])
        self.portal = np.concatenate([self.portal, portal])
        self.churn = np.concatenate([self.churn, np.full(n, NEVER, dtype=np.int32)])
        return slice(start, start + n)

    def active_at(self, day: int) -> np.ndarray:
        """Positions of customers who signed up before ``day`` and had not churned before it."""
        return np.flatnonzero((self.signup < day) & (self.churn >= day))

    def records(self, rng: np.random.Generator, rows: slice) -> pa.Table:
        """The CRM export rows of the customers at ``rows``, with synthetic names and e-mails.

        Names come from short lists and e-mails carry the customer number at the reserved
        domain ``example.com``, so they read like real contacts yet are plainly synthetic.
        """
        numbers = np.arange(rows.start, rows.stop) + 1
        n = len(numbers)
        first = labels(world.FIRST_NAMES, rng.integers(0, len(world.FIRST_NAMES), n))
        last = labels(world.LAST_NAMES, rng.integers(0, len(world.LAST_NAMES), n))
        cid = customer_ids(numbers)
        email = pc.utf8_lower(pc.binary_join_element_wise(first, ".", last, ".", cid, "@example.com", ""))
        return pa.table(
            {
                "customer_no": cid,
                "full_name": pc.binary_join_element_wise(first, last, " "),
                "email_address": email,
                "segment": labels(("Consumer", "SMB", "Enterprise"), self.segment[rows]),
                "sales_region": labels(world.REGIONS, self.region[rows]),
                "lead_source": labels(world.ACQUISITION_CHANNELS, self.channel[rows]),
                "customer_since": pa.array(self.signup[rows].astype("datetime64[D]")),
            }
        )


def starting_customers(rng: np.random.Generator, scale: float, portal_share: float) -> Customers:
    """The customer base on the first day of the period (signed up since 2017).

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    scale : float
        Size of the company.
    portal_share : float
        Probability of the portal arm.

    Returns
    -------
    Customers
        The starting customers.
    """
    customers = Customers.empty()
    lo, hi = day_number(FIRST_SIGNUP), day_number(world.months()[0])
    n = max(1, round(BASE_CUSTOMERS * scale))
    customers.sign_up(rng, rng.integers(lo, hi, n), portal_share)
    return customers


def churn_risk() -> np.ndarray:
    """Relative churn risk by segment, normalised to mean 1 over the segment mix."""
    risk = np.array(world.CHURN_RISK)
    return risk / float(np.dot(risk, world.SEGMENT_SHARES))


@dataclass(frozen=True)
class Employees:
    """The company's employees (a fixed workforce over the period).

    Attributes
    ----------
    region : ndarray of int8
        Region code of each employee; employee number is position + 1.
    """

    region: np.ndarray

    @classmethod
    def hire(cls, rng: np.random.Generator, scale: float) -> Employees:
        """Return ``BASE_EMPLOYEES * scale`` employees spread over the regions."""
        return cls(_draw(rng, world.REGION_SHARES, max(1, round(BASE_EMPLOYEES * scale))))

    @property
    def count(self) -> int:
        """Number of employees."""
        return len(self.region)
