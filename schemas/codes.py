"""Column names shared by the readers (connectors/) and the validator (schemas.validate), defined once.

Code lists the pure rules need live in rules/ (e.g. :mod:`rules.eligibility.codes`: statuses, end reasons),
since rules/ may not import schemas/.
"""

from __future__ import annotations

#: the 1-based line number of a record in its source file (line 1 is the header), kept through
#: validation so that an error names the file, line and column
SOURCE_ROW = "source_row"
