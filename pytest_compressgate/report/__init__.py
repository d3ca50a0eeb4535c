"""Reports a reviewer reads at a glance: terminal table, Markdown, JSON, a plot."""

from __future__ import annotations

from .json_report import write_json
from .markdown import render_markdown
from .plot import write_plot
from .terminal import render_table

__all__ = ["render_markdown", "render_table", "write_json", "write_plot"]
