"""Frame sources behind one factory (:func:`trtssd.sources.factory.open_source`) and one contract
(:class:`trtssd.sources.base.Source`)."""

from trtssd.sources.base import Frame, Source
from trtssd.sources.factory import SourceConfig, open_source

__all__ = ["Frame", "Source", "SourceConfig", "open_source"]
