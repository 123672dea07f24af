"""``python -m callmine``: see callmine/cli.py."""

import sys

from callmine.cli import main

if __name__ == "__main__":  # Airflow's plugin loader imports every file under plugins/
    sys.exit(main())
