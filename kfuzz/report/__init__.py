"""Findings turned into report folders, and shown to a person."""

from .writer import BugReport, folder_name, read_report, write_report

__all__ = ["BugReport", "folder_name", "read_report", "write_report"]
