"""The dashboard (`neodev` with no command): the only package that imports textual, and a
client of the daemon's API only."""
