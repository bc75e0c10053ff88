"""`python -m neodev` runs the same CLI as the `neodev` console script."""

from neodev.cli import main

if __name__ == "__main__":
    main()
