"""outcomes: a joint CIO/CMO analytics workbook kit."""

import sys as _sys

__version__ = "0.1.0"

# jsonschema (imported by Altair) imports the optional package ``rfc3987_syntax`` when it is
# installed (JupyterLab's dependencies bring it), and that package builds a Lark grammar at
# import: about one second in every notebook kernel. Altair never validates IRI formats, so
# the kit keeps that import out unless jsonschema was loaded before.
if "jsonschema" not in _sys.modules:
    _sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
