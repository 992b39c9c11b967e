"""The command line: the dashboard by default, ``--demo``, ``demo-servers`` and headless commands.

One module per job: ``parser`` (the grammar and argument checks), ``output`` (safe, zoned,
pipe-proof printing and the exit codes), ``resolve`` (names to ids, never a guess),
``commands`` (the headless commands) and ``main`` (errors to exit codes, logging, hooks).
"""
