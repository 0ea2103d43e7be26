"""Flowscope: self-hosted business flow observability."""

__version__ = "0.1.0"
