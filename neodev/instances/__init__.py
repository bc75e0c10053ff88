"""Instances: many checkouts of one repository on one machine, each its own environment.

An instance is a workspace (a checkout or a git worktree). Its name — its compose project — is
chosen once and recorded in `<workspace>/.neodev/instance.json`; the machine's registry of
instances (`registry.py`, under `$XDG_STATE_HOME/neodev/instances/`) is what name and port
allocation consult and what `neodev instances` lists. `naming.py` derives names as compose
derives a project name; `choose.py` applies the precedence of the ways to give one;
`resolve.py` resolves a workspace's plan as its instance (the client and the daemon both call
it); `blocks.py` gives an instance that is not the profile's first a block of host ports.
See docs/decisions/instances.md.

Nothing is imported here: the CLI reads the registry without loading the configuration.
"""
