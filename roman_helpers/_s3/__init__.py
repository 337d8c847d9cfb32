"""The kit's one way to S3 (private): the only code that touches botocore, boto3 and s3fs.

Every room that reads or lists S3 goes through here, so that time-outs, connection pools, the
anonymous rule, error messages and the decision to try again are written once:

- :mod:`.clients` -- the factory of every boto3 client and s3fs file system the kit makes;
- :mod:`.hooks` -- what the kit attaches to those clients (the command line's fail-fast
  connect), and the process-wide hook :func:`roman_helpers.transfer.measure` counts with;
- :mod:`.failures` -- S3's errors turned into :mod:`roman_helpers.errors`, and whether a failure
  is worth another try;
- :mod:`.listing` -- what is under a prefix;
- :mod:`.retry` -- the one schedule of attempts and waits, and the re-reading of damaged bytes;
- :mod:`.ranges` -- many byte ranges of one object at once.

botocore, boto3 and s3fs are imported inside the functions, so that importing the kit stays quick.
"""

from __future__ import annotations

from .clients import client, filesystem, is_anonymous, open_known
from .failures import (
    DamagedBytes,
    answer,
    checksum_mismatch,
    from_botocore,
    is_damaged,
    is_transient,
    translate,
)
from .listing import S3Object, list_prefix
from .ranges import cat_ranges
from .retry import attempts, reread

__all__ = [
    "DamagedBytes",
    "S3Object",
    "answer",
    "attempts",
    "cat_ranges",
    "checksum_mismatch",
    "client",
    "filesystem",
    "from_botocore",
    "is_anonymous",
    "is_damaged",
    "is_transient",
    "list_prefix",
    "open_known",
    "reread",
    "translate",
]
