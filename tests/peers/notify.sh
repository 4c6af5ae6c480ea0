#!/bin/sh
# A scripted notify command for the tests: `notify.sh LOG MESSAGE...` appends the message
# (the arguments after LOG, joined by spaces) as one line to LOG.
log="$1"
shift
printf '%s\n' "$*" >> "$log"
