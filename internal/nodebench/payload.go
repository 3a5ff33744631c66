package nodebench

import (
	"math/rand/v2"

	"github.com/golang/snappy"
)

// payloadVariants is how many different payloads each workload cycles
// through, so that no two consecutive appends of a goroutine carry the
// same bytes.
const payloadVariants = 8

// makePayloads returns payloadVariants payloads of size bytes of kind,
// deterministic for a seed.
func makePayloads(kind string, size int, seed uint64) [][]byte {
	payloads := make([][]byte, payloadVariants)
	if kind == PayloadLogLike {
		lines := NewLogLines(seed)
		for i := range payloads {
			payloads[i] = lines.Fill(size)
		}
		return payloads
	}
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	rng := rand.NewChaCha8(key)
	for i := range payloads {
		payloads[i] = make([]byte, size)
		rng.Read(payloads[i])
	}
	return payloads
}

// snappyRatio is the payloads' size over their snappy-compressed size:
// what the wire compressor can gain at best on them.
func snappyRatio(payloads [][]byte) float64 {
	var raw, compressed int
	for _, p := range payloads {
		raw += len(p)
		compressed += len(snappy.Encode(nil, p))
	}
	if compressed == 0 {
		return 0
	}
	return float64(raw) / float64(compressed)
}
