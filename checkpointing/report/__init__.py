"""Layer 4, the report: a run as one offline HTML file, and the local read-only dashboard.

The report needs Jinja2 (a dependency of stagepoint); the dashboard needs Starlette and uvicorn
(``pip install 'stagepoint[ui]'``). Both are imported only when used.
"""

from __future__ import annotations

from checkpointing.report._render import render_report, write_report

__all__ = ["render_report", "write_report"]
