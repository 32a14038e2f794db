"""`python -m vfiogen`: the same as the `vfiogen` console script."""

import sys

from vfiogen.cli.main import main

sys.exit(main())
