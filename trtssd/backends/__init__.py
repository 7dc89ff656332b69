"""Inference backends behind one small interface (:class:`trtssd.backends.base.Backend`)."""

from trtssd.backends.base import Backend, available_backends, create_backend

__all__ = ["Backend", "available_backends", "create_backend"]
