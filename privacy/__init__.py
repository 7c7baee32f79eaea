"""Protection of 特定個人情報 (docs/privacy.md).

Importing this package installs the My Number scrubbing LogRecord factory (privacy.masking):
every flow and task imports it (directly or through ``privacy.errors``), so every log record of a
pipeline process is scrubbed even when no entry point called ``install_masking_filter()``.
"""

from privacy.masking import install_record_factory as _install_record_factory

_install_record_factory()
