-- epilogue.lua: ends every writing script (scripts.go appends it after the
-- script's body, which it wraps in the function main). It runs main, then
-- the writes main deferred (flush, in prelude.lua), even when main failed
-- part way: the updates of a batch applied before the failure are then
-- stored whole, with their events and index entries.

local ok, res = pcall(main)
flush()
if not ok then error(res, 0) end
return res
