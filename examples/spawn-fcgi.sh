#!/bin/sh
# chatdesk: start the FastCGI pool on a server, by hand or from an init
# script (examples/systemd/chatdesk.service runs the same command line).
#
# Run as root: spawn-fcgi creates the socket, gives it to www-data (the
# user nginx's workers run as) with mode 0660, so that nginx can connect
# and no other local user can, then starts 4 chatdesk processes as the
# unprivileged user chatdesk. It writes their PIDs, one a line, to the pid
# file and exits; it does not watch them (a process that dies is not
# replaced: restart the pool).
#
# spawn-fcgi points its children's stderr at /dev/null, so the log goes to
# the file named by log_file in the configuration (examples/chatdesk.conf).
#
# Once, before the first start:
#   useradd --system --home-dir /var/lib/chatdesk --shell /usr/sbin/nologin chatdesk
#   install -d -o chatdesk -g chatdesk -m 0750 /var/lib/chatdesk /var/log/chatdesk
#   install -m 0640 -g chatdesk examples/chatdesk.conf /etc/chatdesk/chatdesk.conf
#   CHATDESK_CONFIG=/etc/chatdesk/chatdesk.conf runuser -u chatdesk -- chatdeskctl migrate
#
# Stop: kill -TERM $(cat /run/chatdesk/chatdesk.pid)   (each process finishes
# the request in flight, then exits); then remove the socket before a new
# start, since spawn-fcgi refuses to start while the old socket accepts.

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

set -eu

CHATDESK=${CHATDESK:-/usr/local/bin/chatdesk}
export CHATDESK_CONFIG="${CHATDESK_CONFIG:-/etc/chatdesk/chatdesk.conf}"

install -d -m 0755 /run/chatdesk
exec spawn-fcgi \
	-u chatdesk -g chatdesk \
	-U www-data -G www-data -M 0660 \
	-s /run/chatdesk/chatdesk.sock \
	-F 4 \
	-P /run/chatdesk/chatdesk.pid \
	-- "$CHATDESK"
