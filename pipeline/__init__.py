"""Research gifts: a nightly pipeline that ranks articles worth sending to the people who interviewed you.

Import the stages you need from their modules; nothing heavy is imported here, so the CLI starts fast.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
