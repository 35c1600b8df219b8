-- Argo CD health of a Drift WorkflowRun (drift.dev/v1alpha1), from API.md's table of phases:
--   Pending, Running -> Progressing; Waiting -> Suspended (a human must answer an instruction node);
--   Succeeded -> Healthy; Failed, TimedOut, Cancelled -> Degraded, with status.message;
--   no status yet -> Progressing.
-- Non-final phases are trusted only when status.observedGeneration equals metadata.generation: after a user
-- appends a resume entry or sets cancel, the run is Progressing until the operator has seen that change. The
-- final phases (Succeeded, Failed, TimedOut, Cancelled) are never left again, so they are trusted as they are.
local hs = {}

local final = {Succeeded = "Healthy", Failed = "Degraded", TimedOut = "Degraded", Cancelled = "Degraded"}
local active = {Pending = "Progressing", Running = "Progressing", Waiting = "Suspended"}

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to start the run"
  return hs
end

local phase = status.phase
local message = status.message
if message == "" then
  message = nil
end

if final[phase] ~= nil then
  hs.status = final[phase]
  if message == nil and status.error ~= nil and status.error.message ~= nil then
    message = status.error.message
  end
  hs.message = message or phase
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if active[phase] ~= nil then
  hs.status = active[phase]
  if message == nil and phase == "Waiting" and status.waitingFor ~= nil and status.waitingFor.node ~= nil then
    message = "Waiting for input on " .. status.waitingFor.node
  end
  hs.message = message or phase
  return hs
end

hs.status = "Progressing"
hs.message = "Unknown phase " .. tostring(phase)
return hs
