-- POST a captured mod_xml_curl sip_auth form, with "1001" replaced by a random user from
-- [first, first + count). Set with: wrk ... -s directory_post.lua -- FORM_FILE FIRST COUNT
local template, first, count
function init(args)
  local f = assert(io.open(args[1], "rb"))
  template = f:read("*a")
  f:close()
  first = tonumber(args[2])
  count = tonumber(args[3])
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  local user = tostring(first + math.random(0, count - 1))
  local body = template:gsub("1001", user)
  return wrk.format("POST", "/directory", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
