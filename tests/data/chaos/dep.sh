#!/bin/sh
# An `exec` dep with a side effect: appends a line to <name>-<job>.lines each time it runs, takes a
# moment (so a host killed now leaves it running), then prints its value, "<name>-<job>".
params=$(cat)
job=$(printf '%s' "$params" | sed 's/.*"job":\([0-9]*\).*/\1/')
echo ran >> "$1-$job.lines"
sleep 0.3
printf '"%s-%s"\n' "$1" "$job"
