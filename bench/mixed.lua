-- wrk: the mixed load of bench/run.sh (--mixed, --maintenance). Of every
-- 10 requests a connection makes, 4 are cached reads of the room's
-- messages, 4 cached reads of a ticket and 2 posts of a message: mostly
-- reading, some writing, as agents and customers do. bench/run.sh sets the
-- token (-H), which wrk.format sends with every request.
local counter = 0
local post_headers

request = function()
	counter = counter + 1
	local k = counter % 10
	if k < 2 then
		if post_headers == nil then
			post_headers = {}
			for name, value in pairs(wrk.headers) do
				post_headers[name] = value
			end
			post_headers["Content-Type"] = "application/json"
		end
		return wrk.format("POST", "/api/v1/rooms/1/messages", post_headers,
			'{"body":"benchmark message with a little text in it"}')
	elseif k < 6 then
		return wrk.format("GET", "/api/v1/rooms/1/messages")
	end
	return wrk.format("GET", "/api/v1/tickets/1")
end
