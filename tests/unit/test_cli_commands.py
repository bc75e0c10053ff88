"""The CLI's table of commands (`neodev.cli.COMMAND_MODULES`) names every command where it is
defined: a command missing from it would be unknown until another command's module happened to
be imported, and one pointing at the wrong module would fail when looked up."""

from __future__ import annotations

import importlib
import subprocess
import sys

from neodev.cli import COMMAND_MODULES, main


def test_every_command_is_in_the_table_with_the_module_that_defines_it() -> None:
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"neodev.cli.{module}")
    defined = {name: command.callback.__module__.rpartition(".")[2]
               for name, command in main.commands.items() if command.callback is not None}
    # groups (db, cluster, instances) are defined by their module too
    assert defined == COMMAND_MODULES


def test_a_command_imports_its_own_module_only() -> None:
    code = ("import sys; from neodev.cli import main; import click; "
            "main.get_command(click.Context(main), 'status'); "
            "print(sorted(m for m in sys.modules if m.startswith('neodev.cli.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert "'neodev.cli.units'" in loaded
    for other in ("db", "cluster", "instances", "machine", "report", "agents"):
        assert f"'neodev.cli.{other}'" not in loaded, loaded
