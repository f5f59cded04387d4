"""``python -m reelflow``: the same as the ``reelflow`` command."""

from reelflow.cli import main

if __name__ == "__main__":
    main()
