package lockcore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts; each .lua file starts with a header naming its KEYS,
// ARGV and replies.
var (
	// fenceSrc defines nextFence, which the scripts that grant locks
	// share: it is put in front of each of them.
	//go:embed lua/fence.lua
	fenceSrc string

	//go:embed lua/acquire.lua
	acquireSrc    string
	acquireScript = redis.NewScript(fenceSrc + acquireSrc)

	//go:embed lua/extend.lua
	extendSrc    string
	extendScript = redis.NewScript(extendSrc)

	//go:embed lua/release.lua
	releaseSrc    string
	releaseScript = redis.NewScript(releaseSrc)

	//go:embed lua/admit.lua
	admitSrc    string
	admitScript = redis.NewScript(fenceSrc + admitSrc)

	//go:embed lua/complete.lua
	completeSrc    string
	completeScript = redis.NewScript(completeSrc)

	//go:embed lua/checkpoint_save.lua
	checkpointSaveSrc    string
	checkpointSaveScript = redis.NewScript(checkpointSaveSrc)

	//go:embed lua/checkpoint_load.lua
	checkpointLoadSrc    string
	checkpointLoadScript = redis.NewScript(checkpointLoadSrc)

	//go:embed lua/checkpoint_drop.lua
	checkpointDropSrc    string
	checkpointDropScript = redis.NewScript(checkpointDropSrc)

	//go:embed lua/slot_take.lua
	slotTakeSrc    string
	slotTakeScript = redis.NewScript(slotTakeSrc)

	//go:embed lua/slot_extend.lua
	slotExtendSrc    string
	slotExtendScript = redis.NewScript(slotExtendSrc)

	//go:embed lua/slot_release.lua
	slotReleaseSrc    string
	slotReleaseScript = redis.NewScript(slotReleaseSrc)

	//go:embed lua/rate_take.lua
	rateTakeSrc    string
	rateTakeScript = redis.NewScript(rateTakeSrc)

	//go:embed lua/rate_pause.lua
	ratePauseSrc    string
	ratePauseScript = redis.NewScript(ratePauseSrc)

	//go:embed lua/limit_inspect.lua
	limitInspectSrc    string
	limitInspectScript = redis.NewScript(limitInspectSrc)
)

// scriptHashes holds each script's SHA-1 as an interface value, boxed once,
// so that an EVALSHA's arguments do not box it again per call. It is built
// at start and only read.
var scriptHashes = hashesOf(acquireScript, extendScript, releaseScript, admitScript, completeScript,
	checkpointSaveScript, checkpointLoadScript, checkpointDropScript, slotTakeScript, slotExtendScript,
	slotReleaseScript, rateTakeScript, ratePauseScript, limitInspectScript)

func hashesOf(scripts ...*redis.Script) map[*redis.Script]any {
	m := make(map[*redis.Script]any, len(scripts))
	for _, s := range scripts {
		m[s] = s.Hash()
	}
	return m
}
