#!/usr/bin/env bash
# chatdesk: a walk through the API with curl (routes of API.md section 3).
#
#   TOKEN=$(cat var/local/admin.token) BASE=http://127.0.0.1:8080 \
#       bash examples/walkthrough.sh
#
# TOKEN is an admin's token (scripts/run.sh prints one and keeps it in
# var/local/admin.token); BASE is where nginx listens (default
# http://127.0.0.1:8080). It creates a customer, a ticket, a room and a few
# messages, with unique e-mail addresses, so it can run again and again.
# Each step prints the request and the answer; it stops at the first
# answer that is not the status the contract promises.

# Copyright (c) 2026 The chatdesk authors
#
# Permission to use, copy, modify, and distribute this software for any
# purpose with or without fee is hereby granted, provided that the above
# copyright notice and this permission notice appear in all copies.
#
# THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
# WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
# MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
# ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
# WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
# ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
# OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.

set -euo pipefail

BASE=${BASE:-http://127.0.0.1:8080}
: "${TOKEN:?set TOKEN to an admin token (scripts/run.sh prints one)}"
API=$BASE/api/v1

body=$(mktemp)
hdrs=$(mktemp)
trap 'rm -f "$body" "$hdrs"' EXIT

# call EXPECTED_STATUS TOKEN METHOD PATH [JSON]: prints the exchange, leaves
# the body in $body and the headers in $hdrs.
call() {
	local want=$1 tok=$2 method=$3 path=$4 data=${5:-} code
	local args=(-s -o "$body" -D "$hdrs" -w '%{http_code}' -X "$method")
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	# shellcheck disable=SC2016 # the single quotes are printed
	echo "\$ curl -X $method $API$path${data:+ -d '$data'}"
	if ! code=$(curl "${args[@]}" "$API$path"); then
		echo "walkthrough: curl could not reach $API$path (is chatdesk running? scripts/run.sh)" >&2
		exit 1
	fi
	echo "  -> $code $(grep -i '^x-cache:' "$hdrs" | tr -d '\r' || true)"
	echo "  $(cat "$body")"
	echo
	if [ "$code" != "$want" ]; then
		echo "walkthrough: expected $want, got $code" >&2
		exit 1
	fi
}

# The first number or string named $1 in the last body (for a user
# created by POST /users that is the user's id; the token appears once).
# The API answers compact JSON; this is enough for the walk-through.
num() { grep -o "\"$1\":[0-9]*" "$body" | head -n 1 | cut -d: -f2; }
str() { grep -o "\"$1\":\"[^\"]*\"" "$body" | head -n 1 | cut -d'"' -f4; }

step() { printf '== %s\n' "$*"; }

step "health (no token needed)"
call 200 "" GET /health

step "who am I"
call 200 "$TOKEN" GET /users/me

tag=$(date +%s)-$$
step "an admin creates a customer; the answer holds its token, shown once"
call 201 "$TOKEN" POST /users "{\"name\":\"Ada Customer\",\"email\":\"ada-$tag@example.com\",\"role\":\"customer\"}"
cust_id=$(num id)
cust_tok=$(str token)

step "read the customer back (X-Cache: HIT when Redis served it, MISS when SQLite did and the cache was refilled)"
call 200 "$TOKEN" GET "/users/$cust_id"
call 200 "$TOKEN" GET "/users/$cust_id"

step "an agent, for the ticket"
call 201 "$TOKEN" POST /users "{\"name\":\"Bob Agent\",\"email\":\"bob-$tag@example.com\",\"role\":\"agent\"}"
agent_id=$(num id)
agent_tok=$(str token)

step "the customer opens a ticket (its body becomes the first interaction)"
call 201 "$cust_tok" POST /tickets '{"subject":"Printer on fire","body":"It is on fire. Again.","priority":"high"}'
ticket_id=$(num id)

step "the agent takes it"
call 200 "$agent_tok" PATCH "/tickets/$ticket_id" "{\"assignee_id\":$agent_id,\"status\":\"pending\"}"

step "the agent answers"
call 201 "$agent_tok" POST "/tickets/$ticket_id/interactions" '{"body":"Have you tried turning it off?"}'

step "the conversation, oldest first"
call 200 "$cust_tok" GET "/tickets/$ticket_id/interactions"

step "the customer's tickets"
call 200 "$cust_tok" GET "/tickets?limit=5"

step "another customer's ticket does not exist for this customer"
call 201 "$TOKEN" POST /users "{\"name\":\"Eve Customer\",\"email\":\"eve-$tag@example.com\",\"role\":\"customer\"}"
eve_tok=$(str token)
call 404 "$eve_tok" GET "/tickets/$ticket_id"

step "a chat room with the customer in it"
call 201 "$agent_tok" POST /rooms "{\"name\":\"Printer support\",\"member_ids\":[$cust_id]}"
room_id=$(num id)
call 201 "$cust_tok" POST "/rooms/$room_id/messages" '{"body":"Still burning."}'
call 201 "$agent_tok" POST "/rooms/$room_id/messages" '{"body":"On my way."}'

step "the newest messages, newest first; served from the room's list in Redis once it is built (X-Cache)"
call 200 "$cust_tok" GET "/rooms/$room_id/messages?limit=10"
call 200 "$cust_tok" GET "/rooms/$room_id/messages?limit=10"

step "the customer closes the ticket"
call 200 "$cust_tok" PATCH "/tickets/$ticket_id" '{"status":"closed"}'

# Notifications are written by the batch worker from queued tasks. With
# WORKER set to a command line, the walk-through runs it here, e.g.
#   WORKER="env CHATDESK_CONFIG=var/local/chatdesk.conf build/chatdesk-worker"
if [ -n "${WORKER:-}" ]; then
	step "one run of the batch worker"
	echo "\$ $WORKER"
	$WORKER
	echo
fi
step "the agent's notifications (empty until the worker has run: set WORKER)"
call 200 "$agent_tok" GET "/notifications?limit=5"

step "stats for the agent"
call 200 "$agent_tok" GET "/stats/users/$agent_id?days=30"

step "revoke the customer's token; its next use is 401"
call 204 "$cust_tok" DELETE /tokens/current
call 401 "$cust_tok" GET /users/me

echo "walkthrough: every step answered as the contract says"
