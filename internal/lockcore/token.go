package lockcore

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// newToken returns a fresh owner token: 128 random bits as 32 hex digits
// (never a ':', which separates a marker's token from its task ID). Tokens
// only tell owners apart, so the runtime's fast generator (ChaCha8, seeded
// from the OS) serves; a uuid from crypto/rand costs a system call per job.
func newToken() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// newMarker returns a new token and the marker value of taskID under it
// (markerValue), in one allocation: the token is the marker's prefix.
func newMarker(taskID string) (token, marker string) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var h [32]byte
	hex.Encode(h[:], b[:])
	marker = string(h[:]) + ":" + taskID
	return marker[:len(h)], marker
}
