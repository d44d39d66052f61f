-- wrk: POST a message to the room (bench/run.sh sets the token and path).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"body":"benchmark message with a little text in it"}'
