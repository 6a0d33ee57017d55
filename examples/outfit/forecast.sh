#!/bin/sh
# A toy forecast: reads {"user": {...}} and prints one JSON string.
read -r params
case "$params" in
  *Oslo*|*oslo*) echo '"cold, light snow"' ;;
  *) echo '"mild, dry"' ;;
esac
