"""Crash safety, in one place: nothing vmctl makes or removes is lost track of,
whatever stops it.

    intents     intent records: the lock and write-ahead log of one operation, kept in
                the pool where the resources are (written in one step, two copies,
                compare-and-swap updates, liveness of the owner)
    operation   Operation: a record (or one per host, for a migration) plus one undo
                stack; ``will`` (write-ahead) / ``on_undo`` / ``commit``
    items       the kinds of recorded items and their removers, with typed outcomes
    claims      a repair's claim on a dead record (two repairs never work on one)
    repair      finishing or undoing dead operations (``vmctl repair``, and the sweep
                every changing command runs first)

How a new verb uses it: CONTRIBUTING.md, "Crash safety for a new verb".
"""
