"""EIE accelerator generator: configuration, hardware components and the `eie` CLI."""

from .config import EIEConfig
from .errors import EIEError

__all__ = ["EIEConfig", "EIEError"]
