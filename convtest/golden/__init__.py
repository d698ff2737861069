"""Golden transcripts: one known-good recording per conversation, compared with every run.

- :mod:`~convtest.golden.document`: what a golden holds (nothing volatile, nothing secret)
- :mod:`~convtest.golden.paths`: where goldens live: slugs, and folders that never leave `__goldens__`
- :mod:`~convtest.golden.store`: golden YAML, read back exactly and written atomically
- :mod:`~convtest.golden.compare`: a run against its golden, under the suite's settings
- :mod:`~convtest.golden.worddiff`: word-level text differences and similarity
- :mod:`~convtest.golden.text`: a failed check in words
- :mod:`~convtest.golden.unused`: goldens no conversation uses any more
- :mod:`~convtest.golden.check`: the check of one conversation, without pytest
"""

from convtest.golden.check import check_golden
from convtest.golden.result import Change, GoldenResult, TurnChanges

__all__ = ["Change", "GoldenResult", "TurnChanges", "check_golden"]
