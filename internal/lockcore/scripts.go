package lockcore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts; each .lua file starts with a header naming its KEYS,
// ARGV and replies.
var (
	// lockSrc defines the layout of a lock key and the helpers of the
	// scripts that touch locks: it is put in front of each of them.
	//go:embed lua/lock.lua
	lockSrc string

	//go:embed lua/acquire.lua
	acquireSrc    string
	acquireScript = newScript(lockSrc + acquireSrc)

	//go:embed lua/extend.lua
	extendSrc    string
	extendScript = newScript(extendSrc)

	//go:embed lua/lock_extend.lua
	lockExtendSrc    string
	lockExtendScript = newScript(lockSrc + lockExtendSrc)

	//go:embed lua/release.lua
	releaseSrc    string
	releaseScript = newScript(lockSrc + releaseSrc)

	//go:embed lua/unlock.lua
	unlockSrc    string
	unlockScript = newScript(lockSrc + unlockSrc)

	//go:embed lua/admit.lua
	admitSrc    string
	admitScript = newScript(lockSrc + admitSrc)

	//go:embed lua/complete.lua
	completeSrc    string
	completeScript = newScript(lockSrc + completeSrc)

	//go:embed lua/checkpoint_save.lua
	checkpointSaveSrc    string
	checkpointSaveScript = newScript(lockSrc + checkpointSaveSrc)

	//go:embed lua/checkpoint_load.lua
	checkpointLoadSrc    string
	checkpointLoadScript = newScript(lockSrc + checkpointLoadSrc)

	//go:embed lua/checkpoint_drop.lua
	checkpointDropSrc    string
	checkpointDropScript = newScript(lockSrc + checkpointDropSrc)

	//go:embed lua/slot_take.lua
	slotTakeSrc    string
	slotTakeScript = newScript(slotTakeSrc)

	//go:embed lua/slot_extend.lua
	slotExtendSrc    string
	slotExtendScript = newScript(slotExtendSrc)

	//go:embed lua/slot_release.lua
	slotReleaseSrc    string
	slotReleaseScript = newScript(slotReleaseSrc)

	//go:embed lua/rate_take.lua
	rateTakeSrc    string
	rateTakeScript = newScript(rateTakeSrc)

	//go:embed lua/rate_pause.lua
	ratePauseSrc    string
	ratePauseScript = newScript(ratePauseSrc)

	//go:embed lua/limit_inspect.lua
	limitInspectSrc    string
	limitInspectScript = newScript(limitInspectSrc)
)

// scriptHashes holds each script's SHA-1 as an interface value, boxed once,
// so that an EVALSHA's arguments do not box it again per call. newScript
// fills it while the package initializes; it is only read after.
var scriptHashes = map[*redis.Script]any{}

// newScript is redis.NewScript, with the script's hash noted in
// scriptHashes.
func newScript(src string) *redis.Script {
	s := redis.NewScript(src)
	scriptHashes[s] = s.Hash()
	return s
}
