"""``python -m devtools COMMAND``: the development commands (synthetic data, simulators).

They are not part of the production ``kodomo`` command: devtools/ is left out of the wheel.
"""

import sys

import devtools.commands
from cli.main import main

sys.exit(main(package=devtools.commands, prog="python -m devtools"))
