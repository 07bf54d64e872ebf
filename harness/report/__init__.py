"""The report step: tables, charts and report.html from a results/<run>/ directory.

Reports read only the results format (results.md); they never import the harness runner.
"""

from harness.report.build import build_report
from harness.report.view import RunView, open_run
from harness.results.runs import resolve_run

__all__ = ["RunView", "build_report", "open_run", "resolve_run"]
