"""Run-time configuration (``config.settings``) and the process-wide pandas options.

String storage (issue 13): pandas 3 stores inferred text columns with pyarrow whenever pyarrow happens
to be installed, and with its own object-backed storage otherwise. The project decides instead of the
environment: ``python`` storage always, so results and timings do not change when some other package
pulls pyarrow in (with pyarrow the persist path measured ~20 % slower). Every layer that touches data
imports ``config``; the test ``tests/integration/test_string_storage.py`` checks both storages give the
same stored results.
"""

import pandas as pd

STRING_STORAGE = "python"
pd.set_option("mode.string_storage", STRING_STORAGE)
