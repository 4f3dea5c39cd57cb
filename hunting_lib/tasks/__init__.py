"""Task definitions: which registered task each rare group's runs belong to, who registered it,
how, and whether it was hidden or deleted. Read from Defender's ``ScheduledTask*`` rows in
DeviceEvents, the TaskCache registry writes and network logons (``definitions.task_definitions``
is the entry point).

    content        TaskContent (Defender's JSON or the 4698 XML) -> the same flat fields
    truncated      content cut off mid-way (recordings, Defender's long fields), read as far as it goes
    registrations  TaskEvents (the rows to read) and registration_rows (one parsed row per event),
                   the caller's network logon and its remote address
    matching       a task's action against a launch: env vars expanded, quotes normalised, a
                   .bat/.cmd action as the cmd.exe /c that runs it
    hidden         TaskCache writes outside the Schedule service, SD deletions (Tarrask)
    definitions    per rare group: TaskDefinitions, TaskNames, FirstRegisteredAt, five signals
    never_ran      the companion table: rare registrations whose task never ran
    config         config/task_definitions.yaml (windows, script hosts, default weights)
"""
