"""EIE accelerator generator: configuration, hardware components and the `eie` CLI."""

from importlib.metadata import PackageNotFoundError, version as _version

from .config import EIEConfig
from .errors import EIEError

try:
    __version__ = _version("eie-hw")
except PackageNotFoundError:          # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["EIEConfig", "EIEError", "__version__"]
