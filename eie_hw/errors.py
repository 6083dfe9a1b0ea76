"""The one exception type users see.

Every problem caused by the user's input (a bad flag, a model that does not fit the
configured memories, a corrupt file) is raised as `EIEError` with a message that names
the problem and the fix; the CLI prints the message without a traceback.
"""


class EIEError(Exception):
    """A problem with the user's input, worded for the user."""
