package mask

import (
	"strings"
	"testing"
)

// line200 is a typical application log line of about 200 bytes with a
// card number, an e-mail address and a password in it.
const line200 = "2024-05-01T12:34:56.789+08:00 INFO [pay-gateway] order=ORD20240501123456 " +
	"user=alice@example.com card=4111111111111111 amount=100.00 password=hunter2 status=OK latency=12ms " +
	"trace=4bf92f3577b34da6"

// clean200 is a line of the same size with nothing to mask: the common case.
const clean200 = "2024-05-01T12:34:56.789+08:00 INFO [pay-gateway] order=ORD20240501123456 " +
	"user=u-20394 merchant=M000123 amount=100.00 currency=CNY status=OK latency=12ms retries=0 node=gw-3 " +
	"trace=4bf92f3577b34da6"

// line2K is a 2 KiB line: a JSON request body with a few sensitive values
// among many ordinary ones, and some Chinese text.
var line2K = func() string {
	const tail = `{"sku":"x"}],"payer":{"mobile":"13912345678","email":"alice@example.com",` +
		`"card":"6222 0212 3456 7890 128","idNo":"11010519491231002X","password":"hunter2"}}`
	var b strings.Builder
	b.WriteString(`2024-05-01T12:34:56.789+08:00 INFO request body={"merchant":"M000123","items":[`)
	for b.Len()+len(tail) < 2048 {
		b.WriteString(`{"sku":"SKU-000123","name":"商品名称","qty":2,"price":1999,"note":"gift wrap, deliver after 18:00"},`)
	}
	b.WriteString(tail)
	return b.String()
}()

func BenchmarkMask(b *testing.B) {
	rules := DefaultRules()
	for _, bc := range []struct {
		name, sys, msgType string
		headLen            int
		msg                string
	}{
		{"line200", "app", "log", 0, line200},
		{"clean200", "app", "log", 0, clean200},
		{"line2K", "app", "log", 0, line2K},
		{"iso8583", "pay", ISO8583Type, 12, packISO("ISO026000075", "0100", authorization, false)},
	} {
		msg := []byte(bc.msg)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				rules.Mask(bc.sys, bc.msgType, bc.headLen, msg)
			}
		})
	}
}
