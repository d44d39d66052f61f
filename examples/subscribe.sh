#!/usr/bin/env bash
# chatdesk: follow a room's live events from a terminal (API.md section 8).
#
#   TOKEN=... BASE=http://127.0.0.1:8080 bash examples/subscribe.sh ROOM_ID
#
# Prints each event's JSON as it arrives. The server ends a subscription
# now and then (a revoked token must stop): this loop reconnects with the
# last event id it saw, and Nchan sends again what came in between. It
# stops when the API refuses (401, 404). After a longer gap, read
# GET /api/v1/rooms/ROOM_ID/messages?after=LAST_MESSAGE_ID.
set -euo pipefail
room=${1:?usage: subscribe.sh ROOM_ID}
: "${TOKEN:?set TOKEN to a bearer token}"
BASE=${BASE:-http://127.0.0.1:8080}
idfile=$(mktemp)
trap 'rm -f "$idfile"' EXIT
while :; do
	last=$(cat "$idfile")
	curl -sfN -H 'Accept: text/event-stream' -H "Authorization: Bearer $TOKEN" \
		${last:+-H "Last-Event-ID: $last"} "$BASE/api/v1/events?rooms=$room" |
		while IFS= read -r line; do
			case $line in
			id:*) printf '%s' "${line#id: }" >"$idfile" ;;
			data:*) printf '%s\n' "${line#data: }" ;;
			esac
		done || { echo "subscribe.sh: the API refused (curl exit $?)" >&2; exit 1; }
	sleep 1
done
