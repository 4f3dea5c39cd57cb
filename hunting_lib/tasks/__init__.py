"""Task definitions: which registered task each rare group's runs belong to, who registered it,
how, and whether it was hidden or deleted. Read from Defender's ``ScheduledTask*`` rows in
DeviceEvents, the TaskCache registry writes and network logons (``definitions.task_definitions``
is the entry point)."""
