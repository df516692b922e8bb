#!/bin/sh
# Extract the KTAP that KUnit printed at boot from a console log on stdin:
# drop printk timestamps and every line that is not KTAP, from the first
# "KTAP version" on.  Test cases are the lines indented by four spaces.
sed -E 's/^\[ *[0-9]+\.[0-9]+\] //' |
	awk '/^KTAP version/ { on = 1 } on && /^ *(KTAP version|TAP version|ok |not ok |# |1\.\.)/'
