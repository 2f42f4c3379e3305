package redisstore

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

// Every mutating Store method is one Lua script (lua/*.lua): Redis runs a
// script without interleaving any other command, and each script checks
// everything that can refuse its write before its first write, so that a
// refusal writes nothing and a success writes the change, its indexes, its
// audit event and its messages together. With AOF persistence Redis logs a
// script's writes as one MULTI/EXEC block, so a restart never replays half
// of one.
//
// Scripts build key names from the prefix they receive (ARGV[1]) instead
// of declaring every key in KEYS: a user's hash, its email key, its
// account's sets and the activity index cannot share one hash slot, which
// is why Redis Cluster is not supported.

//go:embed lua/*.lua
var luaFiles embed.FS

func lua(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("redisstore: missing script " + name) // the files are embedded: a build without them cannot happen
	}
	return string(b)
}

// writing returns a writing script: the shared prelude, the script's body
// as the function main, then the epilogue, which runs main and the writes
// it deferred.
func writing(name string) writeScript {
	return newWriteScript(lua("prelude") + "local function main()\n" + lua(name) + "\nend\n" + lua("epilogue"))
}

// The writing scripts, run with runOnce.
var (
	createScript        = writing("create")
	updateScript        = writing("update")
	reserveScript       = writing("reserve")
	finishScript        = writing("finish")
	activityScript      = writing("activity")
	accountUpdateScript = writing("account_update")
	groupCreateScript   = writing("group_create")
	groupUpdateScript   = writing("group_update")
	claimScript         = writing("claim")
	messageFinishScript = writing("message_finish")
	requeueScript       = writing("requeue")
)

// The reading scripts, which go-redis may retry.
var (
	lookupScript   = redis.NewScript(lua("lookup"))
	accessScript   = redis.NewScript(lua("access"))
	listScript     = redis.NewScript(lua("list"))
	historyScript  = redis.NewScript(lua("history"))
	accountsScript = redis.NewScript(lua("accounts"))
	groupsScript   = redis.NewScript(lua("groups"))
	messagesScript = redis.NewScript(lua("messages"))
)
