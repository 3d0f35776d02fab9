"""`python -m model.evaluation`: see `model.evaluation.cli`."""

import sys

from model.evaluation.cli import main

sys.exit(main())
