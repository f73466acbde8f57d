"""Findings turned into report folders, and shown to a person."""

from .record import ReportRecord, sha256_of
from .writer import folder_name, read_record, read_report, write_report

__all__ = ["ReportRecord", "folder_name", "read_record", "read_report", "sha256_of", "write_report"]
