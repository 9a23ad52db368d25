"""The `mailbot` command's entry point (also `python -m mailbot`), kept light on purpose.

`import --jobs N` spawns parsing workers, and a spawned process first re-runs the
script that launched its parent. From here that imports nothing; from `mailbot.cli`
it imported every command and its libraries, ~1 s of CPU per worker.
"""

from __future__ import annotations


def main() -> None:
    from mailbot.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
