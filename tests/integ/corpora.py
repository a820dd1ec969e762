"""Where the shared test corpora (shared/corpora: RFC 7208 SPF suite, ARC suite, DKIM vectors,
PSL tests...) are: $MG_CORPORA, else shared/corpora beside the checkout, else
/work/shared/corpora (the project machines' layout, also used by the C unit tests). Tests read
them in place and never send any of it off loopback."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def corpora_dir():
    candidates = [os.environ.get("MG_CORPORA"), REPO.parent / "shared/corpora",
                  "/work/shared/corpora"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return REPO.parent / "shared/corpora"    # absent: the tests that need it fail and say where
