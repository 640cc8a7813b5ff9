"""`python -m sovscan` runs the command line."""

from sovscan.cli import main

if __name__ == "__main__":
    main()
