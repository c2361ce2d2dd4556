import sys

from sr_core.cli import main

sys.exit(main())
