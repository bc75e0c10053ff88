"""`python -m neodev` runs the same command as the `neodev` console script."""

from neodev.entry import main

if __name__ == "__main__":
    main()
