"""Protection of 特定個人情報 (docs/privacy.md).

Importing this package installs the My Number scrubbing LogRecord factory (privacy.masking) and sets
the process umask to 0o077 (privacy.files): every flow and task imports it (directly or through
``privacy.errors``), so every log record of a pipeline process is scrubbed and every file it creates
is owner-only even when no entry point did it first. It also switches Prefect's server analytics off
for any Prefect server this process starts (the temporary server of a CLI or benchmark run inherits the
environment): a city system makes no outside call nobody asked for (issue 14 §8).
"""

import os as _os

from privacy.files import restrict_umask as _restrict_umask
from privacy.masking import install_record_factory as _install_record_factory

_install_record_factory()
_restrict_umask()
_os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
