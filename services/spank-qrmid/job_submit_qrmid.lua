--[[
job_submit/lua for qpusite: a job that asks for QPUs with --qpu (the spank_qrmid
plugin's option reaches the controller in the job's SPANK environment) also asks
for one Slurm license per QPU. The job then waits in Slurm's queue while a QPU is
busy instead of holding nodes, and a QPU name the site does not have is refused
at submission ("Invalid license specification").

Installed as job_submit.lua next to slurm.conf (JobSubmitPlugins=lua).
--]]

local function requested_qpus(job_desc)
	local env = job_desc.spank_job_env
	if env == nil then
		return nil
	end
	-- Slurm forwards the --qpu option itself as _SLURM_SPANK_OPTION_qrmid_qpu: that is
	-- what the plugin acquires on the node, so it wins over the plugin's QRMID_QPUS copy
	local fallback = nil
	for _, entry in pairs(env) do
		local value = string.match(entry, "^_SLURM_SPANK_OPTION_qrmid_qpu=(.*)$")
		if value ~= nil then
			return value
		end
		value = string.match(entry, "^QRMID_QPUS=(.*)$")
		if value ~= nil then
			fallback = value
		end
	end
	return fallback
end

local function has_license(licenses, name)
	if licenses == nil then
		return false
	end
	for item in string.gmatch(licenses, "[^,]+") do
		local lname = string.match(item, "^([^:*@]+)")
		if lname == name then
			return true
		end
	end
	return false
end

function slurm_job_submit(job_desc, part_list, submit_uid)
	local qpus = requested_qpus(job_desc)
	if qpus == nil or qpus == "" then
		return slurm.SUCCESS
	end
	local licenses = job_desc.licenses
	for qpu in string.gmatch(qpus, "[^,]+") do
		if not string.match(qpu, "^[%w_]+$") then
			slurm.log_user("--qpu: '%s' is not a QPU name", qpu)
			return slurm.ERROR
		end
		if not has_license(licenses, qpu) then
			if licenses == nil or licenses == "" then
				licenses = qpu .. ":1"
			else
				licenses = licenses .. "," .. qpu .. ":1"
			end
		end
	end
	if licenses ~= job_desc.licenses then
		job_desc.licenses = licenses
		slurm.log_info("qrmid: job from uid %d asks for QPU(s) %s: licenses %s", submit_uid, qpus, licenses)
	end
	return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	return slurm.SUCCESS
end

return slurm.SUCCESS
