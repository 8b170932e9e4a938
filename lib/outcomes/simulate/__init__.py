"""The demo company: a seeded simulator of Northwind Outfitters' exports over 2024-2025.

``generate(out_dir, scale, seed)`` writes the raw exports a CIO and a CMO would receive
(ServiceNow tickets, CI/CD deployments, finance costs, CRM customers and churn, orders,
surveys, campaigns, registers) and ``ground_truth.json``, the effects planted in them.
See ``docs/demo-company.md``.
"""

from outcomes.simulate.company import generate
from outcomes.simulate.exports import ExportFile, GenerationSummary
from outcomes.simulate.world import Planted

__all__ = ["ExportFile", "GenerationSummary", "Planted", "generate"]
