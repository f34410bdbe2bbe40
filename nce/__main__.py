import sys

from nce.cli import main

sys.exit(main())
