package mask

import "sync/atomic"

// Kind is what a masked value was recognised as. Kinds are the label values
// of the collector's masking counters, so their names must stay stable.
type Kind uint8

// The kinds of masked values.
const (
	KindCard Kind = iota
	KindResidentID
	KindMobile
	KindEmail
	KindKeyValue
	KindISO8583Field
	KindPattern

	NumKinds = int(KindPattern) + 1
)

var kindNames = [NumKinds]string{
	KindCard:         "card",
	KindResidentID:   "resident_id",
	KindMobile:       "mobile",
	KindEmail:        "email",
	KindKeyValue:     "key_value",
	KindISO8583Field: "iso8583_field",
	KindPattern:      "pattern",
}

// String returns the kind's stable name, for example "resident_id".
func (k Kind) String() string {
	if int(k) < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Stats counts what one call of Rules.Mask did.
type Stats struct {
	// Masked counts masked values by Kind.
	Masked [NumKinds]int
	// ISO8583Fallbacks is 1 when the message should have been ISO 8583 but
	// did not parse, so the text rules masked it instead.
	ISO8583Fallbacks int
}

// Total is the number of values masked, of all kinds.
func (s Stats) Total() int {
	total := 0
	for _, n := range s.Masked {
		total += n
	}
	return total
}

func (s *Stats) add(other Stats) {
	for kind, n := range other.Masked {
		s.Masked[kind] += n
	}
	s.ISO8583Fallbacks += other.ISO8583Fallbacks
}

// Counters accumulate Stats across calls and goroutines; the collector owns
// one and exports it (for example as a Prometheus counter vector labelled by
// Kind.String). The zero value is ready to use. Counters are kept apart from
// Rules so that reloading the rules does not reset them.
type Counters struct {
	masked    [NumKinds]atomic.Uint64
	fallbacks atomic.Uint64
}

// Add adds the counts of one call.
func (c *Counters) Add(st Stats) {
	for kind, n := range st.Masked {
		if n > 0 {
			c.masked[kind].Add(uint64(n))
		}
	}
	if st.ISO8583Fallbacks > 0 {
		c.fallbacks.Add(uint64(st.ISO8583Fallbacks))
	}
}

// Masked returns how many values of kind k have been masked.
func (c *Counters) Masked(k Kind) uint64 {
	if int(k) >= NumKinds {
		return 0
	}
	return c.masked[k].Load()
}

// ISO8583Fallbacks returns how many messages failed to parse as ISO 8583
// and were masked with the text rules instead.
func (c *Counters) ISO8583Fallbacks() uint64 { return c.fallbacks.Load() }
