--[[
job_submit/lua for qpusite: QPU licenses are obtained only through --qpu.

- A job that asks for QPUs with --qpu (the spank_qrmid plugin's option reaches the
  controller in the job's SPANK environment as _SLURM_SPANK_OPTION_qrmid_qpu) gets
  exactly one Slurm license per QPU: the job waits in Slurm's queue while a QPU is
  busy instead of holding nodes. A QPU name the site does not have is refused.
- A QPU license asked for any other way (-L/--licenses naming a QPU, in any case,
  with ':' or '*', as a remote 'name@server' license, twice, with a count other
  than 1, or for a QPU the job's --qpu does not name) is refused: a QPU is held only
  by a job that goes through qrmid on its node.
- Admission: a user in no policy profile that allows a requested QPU is refused at
  submission with the reason (qrmid stays the final check when the job starts).
- Modification: adding, removing or changing a QPU license of a job (scontrol update
  job=<id> licenses=...) is refused unless done by root or SlurmUser.
- Output: a --qpu batch job runs with a umask that keeps group and others out
  (SLURM_UMASK), so its output files are created 0600: jobs print QPU credentials.

The QPU names, the policy and SlurmUser come from job_submit_qrmid.conf next to this
file, rendered by roles/spank_qrmid from the site model, one statement per line:

  slurm_user <name>
  qpu <name>
  allow <qpu> user <name>
  allow <qpu> group <name>

Installed as job_submit.lua next to slurm.conf (JobSubmitPlugins=lua).
--]]

local CONF_NAME = "job_submit_qrmid.conf"
-- scontrol shows no slurm.log_user text for an update: the error code is what the user sees
local DENIED = slurm.ESLURM_ACCESS_DENIED or slurm.ERROR
local QPU_PATTERN = "^[%w_]+$"
local ACCOUNT_PATTERN = "^[%a_][%w_.-]*$"

local function script_dir()
	local source = debug.getinfo(1, "S").source or ""
	local dir = string.match(source, "^@(.*)/[^/]*$")
	return dir or "/etc/slurm"
end

local CONF_PATH = script_dir() .. "/" .. CONF_NAME

-- The configuration, read at every call (a few lines): a new site model needs no reload.
-- nil when the file cannot be read: QPU requests are then refused (fail closed).
local function read_conf()
	local f = io.open(CONF_PATH, "r")
	if f == nil then
		return nil
	end
	local conf = { qpus = {}, lower = {}, names = {}, allow = {}, slurm_user = nil }
	for line in f:lines() do
		local words = {}
		for w in string.gmatch(line, "%S+") do
			words[#words + 1] = w
		end
		local kind = words[1]
		if kind == nil or string.sub(kind, 1, 1) == "#" then
			-- blank or comment
		elseif kind == "qpu" and #words == 2 and string.match(words[2], QPU_PATTERN) then
			local q = words[2]
			if conf.qpus[q] == nil then
				conf.qpus[q] = true
				conf.lower[string.lower(q)] = q
				conf.names[#conf.names + 1] = q
				conf.allow[q] = { users = {}, groups = {} }
			end
		elseif kind == "allow" and #words == 4 and conf.qpus[words[2]] and string.match(words[4], ACCOUNT_PATTERN) then
			if words[3] == "user" then
				conf.allow[words[2]].users[words[4]] = true
			elseif words[3] == "group" then
				conf.allow[words[2]].groups[words[4]] = true
			end
		elseif kind == "slurm_user" and #words == 2 and string.match(words[2], ACCOUNT_PATTERN) then
			conf.slurm_user = words[2]
		else
			slurm.log_error("qrmid: %s: ignoring line '%s'", CONF_PATH, line)
		end
	end
	f:close()
	return conf
end

-- ------------------------------------------------------------------ accounts (files, then NSS)

-- the /etc/<database> entry named key, else the one NSS (getent) gives for it
local function account_entry(database, key)
	if key == nil or not string.match(key, ACCOUNT_PATTERN) then
		return nil
	end
	local f = io.open("/etc/" .. database, "r")
	if f ~= nil then
		for line in f:lines() do
			if string.sub(line, 1, #key + 1) == key .. ":" then
				f:close()
				return line
			end
		end
		f:close()
	end
	-- a directory service: getent, with a name that matched ACCOUNT_PATTERN (no quote, no space)
	local p = io.popen("getent " .. database .. " '" .. key .. "' 2>/dev/null")
	if p == nil then
		return nil
	end
	local line = p:read("*l")
	p:close()
	if line ~= nil and string.sub(line, 1, #key + 1) == key .. ":" then
		return line
	end
	return nil
end

local function uid_of(name)
	local line = account_entry("passwd", name)
	local uid = line and string.match(line, "^[^:]*:[^:]*:(%d+):")
	return uid and tonumber(uid)
end

-- is the user (login name, primary gid) a member of the group?
local function in_group(group, user, gid)
	local line = account_entry("group", group)
	if line == nil then
		return false
	end
	local g, members = string.match(line, "^[^:]*:[^:]*:(%d+):(.*)$")
	if g == nil then
		return false
	end
	if gid ~= nil and tonumber(g) == gid then
		return true
	end
	for m in string.gmatch(members, "[^,%s]+") do
		if m == user then
			return true
		end
	end
	return false
end

local function is_admin(uid, conf)
	if uid == 0 then
		return true
	end
	return conf ~= nil and conf.slurm_user ~= nil and uid == uid_of(conf.slurm_user)
end

-- ------------------------------------------------------------------ licenses

-- the license items of a -L string: { name = "sc_twin", base = "sc_twin", count = "1", raw = "sc_twin:1" }
local function license_items(licenses)
	local items = {}
	if licenses == nil then
		return items
	end
	-- ',' separates licenses, '|' is an alternative in newer Slurm versions: both split
	for raw in string.gmatch(licenses, "[^,|]+") do
		local item = string.gsub(raw, "%s", "")
		if item ~= "" then
			local name, count = string.match(item, "^([^:*]*)[:*](.*)$")
			if name == nil then
				name, count = item, "1"
			end
			-- a remote license is name@server: the part before '@' names the QPU
			local base = string.match(name, "^([^@]*)") or name
			items[#items + 1] = { name = name, base = base, count = count, raw = item }
		end
	end
	return items
end

-- the QPU a license item names (any case, local or remote), or nil
local function qpu_of(item, conf)
	return conf.lower[string.lower(item.base)]
end

-- the job's QPU licenses as a canonical, sorted string ("FRESNEL:1,sc_twin:1")
local function qpu_licenses(licenses, conf)
	local out = {}
	for _, item in ipairs(license_items(licenses)) do
		if qpu_of(item, conf) ~= nil then
			out[#out + 1] = string.lower(item.name) .. ":" .. item.count
		end
	end
	table.sort(out)
	return table.concat(out, ",")
end

local function requested_qpus(job_desc)
	local env = job_desc.spank_job_env
	if env == nil then
		return nil
	end
	-- Slurm forwards the --qpu option itself: that is what the plugin acquires on the node
	for _, entry in pairs(env) do
		local value = string.match(entry, "^_SLURM_SPANK_OPTION_qrmid_qpu=(.*)$")
		if value ~= nil then
			return value
		end
	end
	return nil
end

local function admitted(conf, qpu, user, gid)
	local allow = conf.allow[qpu]
	if user ~= nil and allow.users[user] then
		return true
	end
	for group, _ in pairs(allow.groups) do
		if in_group(group, user, gid) then
			return true
		end
	end
	return false
end

-- a umask with group and others shut out, keeping the owner digit the user chose
local function private_umask(current)
	local owner = "0"
	if current ~= nil then
		local digits = string.match(current, "^0*([0-7]?[0-7]?[0-7])$")
		if digits ~= nil and #digits == 3 then
			owner = string.sub(digits, 1, 1)
		end
	end
	return "0" .. owner .. "77"
end

-- ------------------------------------------------------------------ Slurm entry points

function slurm_job_submit(job_desc, part_list, submit_uid)
	local conf = read_conf()
	local qpus = requested_qpus(job_desc)
	local asked = qpus ~= nil and qpus ~= ""
	if conf == nil then
		slurm.log_error("qrmid: cannot read %s: QPU requests are refused", CONF_PATH)
		if asked then
			slurm.log_user("--qpu: the site's QPU configuration is missing on the controller; contact the site operators")
			return slurm.ERROR
		end
		return slurm.SUCCESS
	end

	-- the QPUs of --qpu: known names, each once
	local wanted, order = {}, {}
	if asked then
		for raw in string.gmatch(qpus .. ",", "([^,]*),") do
			local qpu = conf.qpus[raw] and raw or nil
			if qpu == nil then
				if string.match(raw, QPU_PATTERN) and conf.lower[string.lower(raw)] then
					slurm.log_user("--qpu: there is no QPU '%s' (QPU names are case-sensitive: did you mean '%s'?)",
						raw, conf.lower[string.lower(raw)])
				else
					slurm.log_user("--qpu: '%s' is not a QPU of this site (QPU licenses: %s)", raw,
						table.concat(conf.names, ", "))
				end
				return slurm.ERROR
			end
			if wanted[qpu] then
				slurm.log_user("--qpu: QPU '%s' is named twice", qpu)
				return slurm.ERROR
			end
			wanted[qpu] = true
			order[#order + 1] = qpu
		end
	end

	-- explicit licenses: a QPU license only as --qpu would ask for it, everything else untouched
	local admin = is_admin(submit_uid, conf)
	local kept, seen = {}, {}
	for _, item in ipairs(license_items(job_desc.licenses)) do
		local qpu = qpu_of(item, conf)
		if qpu == nil then
			kept[#kept + 1] = item.raw
		elseif item.name == qpu and wanted[qpu] and item.count == "1" and not seen[qpu] then
			-- exactly what --qpu asks for: added once below
			seen[qpu] = true
		elseif admin then
			-- root and SlurmUser may hold a QPU license by hand (e.g. to keep jobs off a QPU)
			kept[#kept + 1] = item.raw
			slurm.log_info("qrmid: uid %d holds QPU license %s explicitly", submit_uid, item.raw)
		else
			slurm.log_user("license '%s' is a QPU license: QPUs are obtained only through --qpu (e.g. --qpu=%s), " ..
				"which asks the site's QPU broker; drop it from -L/--licenses", item.raw, qpu)
			return slurm.ERROR
		end
	end

	if not asked then
		return slurm.SUCCESS
	end

	-- admission: the policy must allow every requested QPU to this user
	local user = job_desc.user_name
	local gid = job_desc.group_id
	if not admin then
		for _, qpu in ipairs(order) do
			if not admitted(conf, qpu, user, gid) then
				slurm.log_user("--qpu=%s: user '%s' is in no QPU policy profile that allows QPU %s; ask the site " ..
					"operators to add you", qpus, tostring(user), qpu)
				return slurm.ERROR
			end
		end
	end

	for _, qpu in ipairs(order) do
		kept[#kept + 1] = qpu .. ":1"
	end
	job_desc.licenses = table.concat(kept, ",")

	-- the job's output files are created without group/other access (SLURM_UMASK applies in slurmstepd)
	if job_desc.script ~= nil and job_desc.environment ~= nil then
		local umask = private_umask(job_desc.environment.SLURM_UMASK)
		job_desc.environment.SLURM_UMASK = umask
	end
	slurm.log_info("qrmid: job from uid %d asks for QPU(s) %s: licenses %s", submit_uid, qpus, job_desc.licenses)
	return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	if job_desc.licenses == nil then
		return slurm.SUCCESS
	end
	local conf = read_conf()
	if conf == nil then
		slurm.log_error("qrmid: cannot read %s: license changes are refused", CONF_PATH)
		if is_admin(modify_uid, nil) then
			return slurm.SUCCESS
		end
		slurm.log_user("licenses: the site's QPU configuration is missing on the controller; contact the site operators")
		return DENIED
	end
	if is_admin(modify_uid, conf) then
		return slurm.SUCCESS
	end
	local before = qpu_licenses(job_rec.licenses, conf)
	local after = qpu_licenses(job_desc.licenses, conf)
	if before ~= after then
		slurm.log_user("licenses: a job's QPU licenses (%s) are set by --qpu at submission and cannot be changed; " ..
			"submit a new job with the --qpu you need", before ~= "" and before or "none")
		slurm.log_info("qrmid: uid %d may not change the QPU licenses of job %s (%s -> %s)", modify_uid,
			tostring(job_rec.job_id), before, after)
		return DENIED
	end
	return slurm.SUCCESS
end

slurm.log_info("qrmid: job_submit.lua loaded; QPU configuration in %s", CONF_PATH)
return slurm.SUCCESS
