"""Hunt history in one SQLite file: runs, the groups each run saw, and analysts' verdicts.
``store.open_history`` opens (and migrates) the file; ``runs`` records a run and says which
groups are new; ``verdicts`` records verdicts and applies them to a hunt."""
