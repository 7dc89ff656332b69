"""One factory for all sources, driven by a typed config (the CLI builds it from its flags)."""

from __future__ import annotations

from dataclasses import dataclass

from trtssd.errors import InputError
from trtssd.sources.base import Source


@dataclass(frozen=True)
class SourceConfig:
    """Which source to open. Exactly one of the input fields is set.

    ``width``/``height``: capture size for cameras; with ``do_resize`` also the size file frames are
    resized to (as the original trt_ssd.py flags).
    """

    image: str | None = None
    video: str | None = None
    video_looping: bool = False
    width: int = 640
    height: int = 480
    do_resize: bool = False
    repeat_image: bool = False

    def kinds(self) -> list[str]:
        return [k for k in ("image", "video") if getattr(self, k) is not None]


def open_source(config: SourceConfig) -> Source:
    """Open the source ``config`` names; raises InputError naming what was expected."""
    from trtssd.sources.files import ImageSource, VideoFileSource

    kinds = config.kinds()
    if len(kinds) != 1:
        raise InputError(f"input: expected exactly one of --image / --video, found {kinds or 'none'}")
    size = (config.width, config.height) if config.do_resize else None
    if config.image is not None:
        return ImageSource(config.image, repeat=config.repeat_image, size_wh=size)
    return VideoFileSource(config.video, looping=config.video_looping, size_wh=size)
