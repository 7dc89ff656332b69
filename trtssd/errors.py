"""Exception types. Library code raises these with expected-vs-found messages; only the CLI
turns them into exit codes (see :mod:`trtssd.cli.common`)."""


class TrtSsdError(Exception):
    """Base class: the message is a single line fit for a user."""


class ModelNotFoundError(TrtSsdError):
    """A model name is unknown, or its files are absent and could not be downloaded."""


class ModelFormatError(TrtSsdError):
    """A model file exists but is not of the expected kind (not a TFLite SSD, not a trtssd artifact...)."""


class ConversionError(TrtSsdError):
    """Converting a model to the trtssd ONNX artifact failed."""


class InputError(TrtSsdError):
    """An input (image, video, stream, folder, annotation file) is missing or unreadable."""


class BackendError(TrtSsdError):
    """An inference backend is unavailable or failed."""


class SourceTimeout(TrtSsdError):
    """A live source delivered no frame within its timeout."""
