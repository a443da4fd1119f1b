"""Exceptions of the paramd package's numerical half (data loading).

Only DataError lives here on this branch; the client branch has the full errors module
(one class per protocol error code) and takes this class over when the two are merged.
"""


class DataError(Exception):
    """The job's data cannot be used: a file is unreadable or malformed, or its content does
    not have the fingerprint the server announced. The message names the file and the
    problem ("FILE:LINE: problem", as common/data*.c words it)."""
