"""The running version, read from the installed distribution's metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("jetflow")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0.0.0+source"
