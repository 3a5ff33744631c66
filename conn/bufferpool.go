package conn

import (
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// gRPC's default buffer pool has tiers of 256 B, 4 KiB, 16 KiB, 32 KiB and
// 1 MiB, and clears a buffer's whole capacity on every Get: a 66 KB append
// or a 280 KB replicate batch zeroes 1 MiB each time it is marshalled and
// again when it is received. With a tier at every power of two up to 64
// MiB (our messages reach 48 MiB), the zeroing matches the message. The
// node benchmark measured +30-50% at 64 KiB appends (make bench-node). The
// proto codec reaches the pool only through the process-wide default, so
// it is set here, at initialisation, as the API requires.
func init() {
	exponents := make([]uint8, 0, 19)
	for e := uint8(8); e <= 26; e++ {
		exponents = append(exponents, e)
	}
	pool, err := mem.NewBinaryTieredBufferPool(exponents...)
	if err != nil {
		panic("conn: buffer pool tiers: " + err.Error()) // constant input; cannot happen
	}
	experimental.SetDefaultBufferPool(pool)
}
