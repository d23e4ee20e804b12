import sys

from kafka_compat.cli import main

sys.exit(main())
