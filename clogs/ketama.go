package clogs

import (
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// PointsPerWeight is how many points a collector of weight 1 has on the
// hash ring. A collector's share of the files strays from its weighted
// share by about 1/sqrt(points): libketama's 160 points leave 4 equal
// collectors up to 16% apart, 2,000 keep them within about 6%. The ring
// stays small (8,000 points for 4 collectors) and a lookup is a binary
// search of it.
const PointsPerWeight = 2000

// The ring is ketama's consistent hashing (libketama, memcached clients)
// with xxHash64 in place of MD5: a collector of weight w owns
// w*PointsPerWeight points, point i at xxhash64("<name>-<i>"); a file
// belongs to the collector of the first point at or after
// xxhash64(file name), wrapping around. Points hang on the collector's
// name, not its index or address, so the ring over a set of collectors is
// the same whatever their order in the config, and a collector leaving
// takes away only its own points: the files on it move to their next
// points, and no other file moves. xxHash64 is much faster than MD5 on
// the send path and spreads points as evenly; 64-bit points make
// collisions between collectors negligible, and a tie goes to the lower
// collector index, so lookups are still deterministic.

// ringPoint is one point of the ring.
type ringPoint struct {
	hash      uint64
	collector int // index into the sender's collectors
}

// ring is an immutable hash ring over some collectors, sorted by hash.
type ring struct {
	points []ringPoint
	live   int // collectors on the ring
}

// collectorPoints returns the points of a collector named name with the
// given weight, for collector index i.
func collectorPoints(name string, weight, i int) []ringPoint {
	points := make([]ringPoint, weight*PointsPerWeight)
	key := make([]byte, 0, len(name)+12)
	key = append(key, name...)
	key = append(key, '-')
	for p := range points {
		k := strconv.AppendInt(key, int64(p), 10)
		points[p] = ringPoint{hash: xxhash.Sum64(k), collector: i}
	}
	return points
}

// buildRing merges the points of the collectors that are in.
func buildRing(points [][]ringPoint, in func(i int) bool) *ring {
	r := &ring{}
	n := 0
	for i, p := range points {
		if in(i) {
			n += len(p)
		}
	}
	r.points = make([]ringPoint, 0, n)
	for i, p := range points {
		if in(i) {
			r.points = append(r.points, p...)
			r.live++
		}
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return a.collector - b.collector
	})
	return r
}

// lookup returns the collector index that key belongs to, or -1 if the
// ring is empty.
func (r *ring) lookup(key string) int {
	if len(r.points) == 0 {
		return -1
	}
	h := xxhash.Sum64String(key)
	i, _ := slices.BinarySearchFunc(r.points, h, func(p ringPoint, h uint64) int {
		if p.hash < h {
			return -1
		}
		if p.hash > h {
			return 1
		}
		return 0
	})
	if i == len(r.points) {
		i = 0
	}
	return r.points[i].collector
}
