"""Fleet scans: many hosts, bounded concurrency, progress, history and drift, shards and merge.

`runner` collects hosts at most N at once under a per-host and a whole-scan deadline and hands
results over one at a time (so a host's raw outputs and parsed rulesets are dropped as soon as
its findings exist); `progress` shows how far a scan got; `history` keeps every run in SQLite
and `drift` marks each result against the previous run of the same inventory; `shard` picks a
deterministic subset of hosts, and `merge` joins the shards' JSON reports into one run.
"""
