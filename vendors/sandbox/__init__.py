"""A strict local stand-in of the three vendors, for tests and the demo.

Production code never imports this package.
"""

from vendors.sandbox.server import Fault, Received, Sandbox

__all__ = ["Fault", "Received", "Sandbox"]
