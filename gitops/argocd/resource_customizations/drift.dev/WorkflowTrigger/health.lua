-- Argo CD health of a Drift NodeDefinition, Workflow or WorkflowSchedule (drift.dev/v1alpha1), from their
-- conditions:
--   Stalled=True -> Degraded, Ready=True -> Healthy, anything else (Reconciling, no status yet) -> Progressing.
-- Only conditions that describe the current spec count: a condition's observedGeneration (or, when a
-- condition has none, status.observedGeneration) must equal metadata.generation, so a Ready=True left over
-- from the previous spec never reports a freshly edited definition as Healthy.
-- NodeDefinition/, Workflow/ and WorkflowSchedule/health.lua are the same script (tests/gitops checks it).
local hs = {status = "Progressing", message = "Waiting for the operator to store this version"}

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

local function isCurrent(condition)
  if generation == nil then
    return true
  end
  local observed = condition.observedGeneration
  if observed == nil then
    observed = obj.status.observedGeneration
  end
  return observed ~= nil and observed == generation
end

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

local current = {}
local stale = false
for _, condition in ipairs(obj.status.conditions) do
  if condition.type ~= nil then
    if isCurrent(condition) then
      current[condition.type] = condition
    else
      stale = true
    end
  end
end

if current.Stalled ~= nil and current.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(current.Stalled)
  return hs
end

if current.Ready ~= nil and current.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(current.Ready)
  if obj.status.version ~= nil then
    hs.message = hs.message .. " (version " .. obj.status.version .. ")"
  end
  return hs
end

if current.Reconciling ~= nil and current.Reconciling.status == "True" then
  hs.message = describe(current.Reconciling)
elseif current.Ready ~= nil then
  hs.message = describe(current.Ready)
elseif stale then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
end
return hs
