"""outcomes: a joint CIO/CMO analytics workbook kit."""

__version__ = "0.1.0"
