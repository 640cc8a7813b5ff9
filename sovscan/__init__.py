"""sovscan: a data-sovereignty audit scanner (an application; it has no public Python API)."""

__version__ = "0.1.0"
