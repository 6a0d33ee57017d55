#!/bin/sh
# A toy retriever: one JSON history per line in; one JSON array holding one record
# {"passages": [...]} per line out. A real one would query an index; the protocol is the same.
while IFS= read -r history; do
  passages=""
  add() { passages="${passages:+$passages, }\"$1\""; }
  case "$history" in *[Ff]erry*) add "The ferry to the island leaves hourly from pier 3." ;; esac
  case "$history" in *[Mm]useum*) add "The museum is closed on Mondays." ;; esac
  case "$history" in *[Tt]icket*) add "Day tickets cover buses, trams and the ferry." ;; esac
  echo "[{\"passages\": [$passages]}]"
done
