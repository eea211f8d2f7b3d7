"""Ordering: the log that fixes the order of transactions, and the block cutter."""

from .base import CutBlock, LogEntry, LogReset, LogUnavailable, OrderingLog, cut_blocks
from .embedded import EmbeddedLog

__all__ = ["CutBlock", "EmbeddedLog", "LogEntry", "LogReset", "LogUnavailable", "OrderingLog", "cut_blocks"]
