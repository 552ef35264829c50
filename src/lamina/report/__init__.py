"""Figures and static HTML reports."""
from lamina.report.html import figure_html, table_html, write_report

__all__ = ["figure_html", "table_html", "write_report"]
