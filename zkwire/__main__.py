import sys

from zkwire.cli import main

sys.exit(main())
