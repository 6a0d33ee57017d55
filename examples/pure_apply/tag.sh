#!/bin/sh
# One JSON history per line in; one JSON array of records per line out.
while IFS= read -r history; do
  case "$history" in
    *'"sku":"B-'*) echo '[{"tag": "bulk"}]' ;;
    *) echo '[{"tag": "retail"}]' ;;
  esac
done
