"""``python -m m2mclient.cli`` runs the ``m2mclient`` command."""

import sys

from m2mclient.cli import main

sys.exit(main())
