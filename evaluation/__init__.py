"""Evaluation of the hunt on labelled real recordings of scheduled-task attacks.

``convert`` turns Sysmon / Security recordings into Defender XDR tables, ``get_recordings`` fetches
the pinned public sources of ``sets.yaml`` and converts them into ``data/``, and ``run`` hunts each
set and reports how the labelled malicious launches rank. See ``README.md`` in this folder.
"""
