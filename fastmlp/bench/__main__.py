import sys

from fastmlp.bench import main

sys.exit(main())
