"""Replication: adapters that talk to other registries, policies and their filters, the push and pull
clients; and the job kinds a run is made of, shared by the push, pull and event services."""

#: the execution's vendor type and the copy task's kind (push and pull alike)
REPLICATION = "REPLICATION"
#: the task that lists what a run copies
LAUNCH = "REPLICATION_LAUNCH"
#: Harbor retries a replication task (its MaxFails is 3)
ATTEMPTS = 3
