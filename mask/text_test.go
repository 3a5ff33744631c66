package mask

import (
	"strings"
	"testing"
)

// noMask marks a case in which nothing may be masked.
const noMask Kind = 255

type textCase struct {
	name string
	in   string
	want string // "" means in is left as it is
	kind Kind   // the kind counted once, or noMask
}

// runTextCases masks each case with the built-in rules of a text message.
func runTextCases(t *testing.T, cases []textCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.in
			}
			out, st := DefaultRules().Mask("app", "log", 0, []byte(tc.in))
			if string(out) != want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tc.in, out, want)
			}
			checkOneKind(t, st, tc.kind)
		})
	}
}

func checkOneKind(t *testing.T, st Stats, kind Kind) {
	t.Helper()
	if kind == noMask {
		if st.Total() != 0 {
			t.Errorf("stats %+v, want nothing masked", st)
		}
		return
	}
	if st.Masked[kind] != 1 || st.Total() != 1 {
		t.Errorf("stats %+v, want one %s", st, kind)
	}
}

func TestCardNumbers(t *testing.T) {
	runTextCases(t, []textCase{
		{"visa 16", "card 4111111111111111 ok", "card 411111******1111 ok", KindCard},
		{"mastercard", "5500000000000004", "550000******0004", KindCard},
		{"amex 15", "pan=378282246310005;", "pan=378282*****0005;", KindCard},
		{"13 digits", "x 4222222222222 y", "x 422222***2222 y", KindCard},
		{"19 digits", "6214830000000000122", "621483*********0122", KindCard},
		{"spaces 4-4-4-4", "4111 1111 1111 1111", "4111 11** **** 1111", KindCard},
		{"dashes 4-4-4-4", "(4111-1111-1111-1111)", "(4111-11**-****-1111)", KindCard},
		{"amex 4-6-5", "3782 822463 10005", "3782 82**** *0005", KindCard},
		{"19 digits 4-4-4-4-3", "6222 0212 3456 7890 128", "6222 02** **** ***0 128", KindCard},
		{"CJK on both sides", "卡号4111111111111111已付", "卡号411111******1111已付", KindCard},
		{"CJK punctuation", "卡号：4111111111111111。", "卡号：411111******1111。", KindCard},
		{"underscore is no glue", "card_4111111111111111_x", "card_411111******1111_x", KindCard},
		{"end of sentence", "paid with 4111111111111111.", "paid with 411111******1111.", KindCard},
		{"short group before", "qty 2 4111 1111 1111 1111", "qty 2 4111 11** **** 1111", KindCard},
		{"short group after", "4111 1111 1111 1111 12", "4111 11** **** 1111 12", KindCard},
		{"date before, other separator", "2024-01-02 4111 1111 1111 1111", "2024-01-02 4111 11** **** 1111", KindCard},

		{"bad luhn", "card 4111111111111112 ok", "", noMask},
		{"bad luhn grouped", "4111 1111 1111 1112", "", noMask},
		{"20 digits", "62148300000000001239", "", noMask},
		{"20 digits grouped", "1111 1111 1111 1111 1111", "", noMask},
		{"12 digits", "411111111116", "", noMask},
		{"letter before", "ID4111111111111111", "", noMask},
		{"letter after", "4111111111111111abc", "", noMask},
		{"digit glued by a letter", "x4111111111111111", "", noMask},
		{"leading zero", "0411111111111116", "", noMask},
		{"all zeros grouped", "0000 0000 0000 0000", "", noMask},
		{"double space", "4111  1111  1111  1111", "", noMask},
		{"mixed separators", "4111-1111 1111-1111", "", noMask},
		{"dots are no separators", "4111.1111.1111.1111", "", noMask},
		{"group of 7", "4111111 111111111", "", noMask},
		{"integer part of a decimal", "amount 4111111111111111.50", "", noMask},
		{"fraction of a decimal", "ratio 0.4111111111111111", "", noMask},
	})
}

func TestResidentIDs(t *testing.T) {
	runTextCases(t, []textCase{
		{"check X", "身份证11010519491231002X。", "身份证110105********002X。", KindResidentID},
		{"check x lower", "id=11010519491231002x", "id=110105********002x", KindResidentID},
		{"check digit", "id 440304199001011233 ok", "id 440304********1233 ok", KindResidentID},
		{"leap day", "110101200002290018", "110101********0018", KindResidentID},
		{"also passes luhn", "110101199003070054", "110101********0054", KindResidentID},

		{"wrong check X", "110105194912310021", "", noMask},
		{"wrong check digit", "440304199001011234", "", noMask},
		{"impossible month", "110105194913310021", "", noMask},
		{"X glued to letter", "11010519491231002Xa", "", noMask},
		{"19 digits", "4403041990010112339", "", noMask},
		{"letter before", "A11010519491231002X", "", noMask},
	})
}

func TestMobileNumbers(t *testing.T) {
	runTextCases(t, []textCase{
		{"plain", "tel 13912345678", "tel 139****5678", KindMobile},
		{"19 prefix", "19912345678,", "199****5678,", KindMobile},
		{"CJK", "手机13912345678。", "手机139****5678。", KindMobile},
		{"dashes 3-4-4", "139-1234-5678", "139-****-5678", KindMobile},
		{"spaces 3-4-4", "139 1234 5678", "139 **** 5678", KindMobile},
		{"+86 glued", "+8613912345678", "+86139****5678", KindMobile},
		{"+86 spaced", "+86 13912345678", "+86 139****5678", KindMobile},

		{"before an @ that is no e-mail", "call 13912345678@home", "call 139****5678@home", KindMobile},

		{"12 prefix", "12912345678", "", noMask},
		{"10 digits", "1391234567", "", noMask},
		{"12 digits", "139123456789", "", noMask},
		{"86 without plus", "8613912345678", "", noMask},
		{"letter after", "13912345678x", "", noMask},
		{"4-4-3 grouping", "1391 2345 678", "", noMask},
		{"digit glued", "013912345678", "", noMask},
	})
}

func TestEmails(t *testing.T) {
	runTextCases(t, []textCase{
		{"design example", "alice@example.com", "a****@example.com", KindEmail},
		{"in a sentence", "mail alice.b+x@mail.example.co.uk.", "mail a********@mail.example.co.uk.", KindEmail},
		{"key before", "user=bob@example.org&x=1", "user=b**@example.org&x=1", KindEmail},
		{"digits local part", "13912345678@qq.com", "1**********@qq.com", KindEmail},
		{"CJK around", "邮箱alice@example.com谢谢", "邮箱a****@example.com谢谢", KindEmail},
		{"one character local part", "a@example.com", "", noMask},
		{"no top-level domain", "alice@localhost", "", noMask},
		{"numeric top-level domain", "alice@10.0.0.1", "", noMask},
		{"no local part", "@example.com", "", noMask},
		{"double dot", "alice@example..com", "", noMask},
	})
}

func TestTextMixed(t *testing.T) {
	in := "user alice@example.com paid 4111 1111 1111 1111 tel 13912345678 id 11010519491231002X password=hunter2"
	want := "user a****@example.com paid 4111 11** **** 1111 tel 139****5678 id 110105********002X password=******"
	out, st := DefaultRules().Mask("app", "log", 0, []byte(in))
	if string(out) != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
	for _, kind := range []Kind{KindCard, KindResidentID, KindMobile, KindEmail, KindKeyValue} {
		if st.Masked[kind] != 1 {
			t.Errorf("%s masked %d times, want 1 (%+v)", kind, st.Masked[kind], st)
		}
	}
}

func TestMaskDoesNotModifyInput(t *testing.T) {
	in := []byte("card 4111111111111111 password=x")
	saved := string(in)
	out, _ := DefaultRules().Mask("app", "log", 0, in)
	if string(in) != saved {
		t.Fatalf("input changed to %q", in)
	}
	if string(out) == saved {
		t.Fatal("nothing masked")
	}
	clean := []byte("nothing to see here, order 12345")
	out, _ = DefaultRules().Mask("app", "log", 0, clean)
	if &out[0] != &clean[0] {
		t.Error("a message with nothing to mask was copied")
	}
}

func TestLongDigitRunsAreLinear(t *testing.T) {
	// Many short groups and long runs must neither hang nor mask.
	in := strings.Repeat("1 ", 10000) + strings.Repeat("9", 10000) + strings.Repeat("1234 ", 10000)
	out, st := DefaultRules().Mask("app", "log", 0, []byte(in))
	if string(out) != in || st.Total() != 0 {
		t.Fatalf("masked %+v", st)
	}
}

func TestCheckDigits(t *testing.T) {
	for _, tc := range []struct {
		digits string
		luhn   bool
	}{
		{"4111111111111111", true}, {"4111111111111112", false}, {"378282246310005", true},
		{"6011111111111117", true}, {"79927398713", true}, {"79927398710", false}, {"0", true},
	} {
		if got := luhnValid([]byte(tc.digits)); got != tc.luhn {
			t.Errorf("luhnValid(%s) = %v", tc.digits, got)
		}
	}
	for _, tc := range []struct {
		id    string
		valid bool
	}{
		{"11010519491231002X", true}, {"11010519491231002x", true}, {"440304199001011233", true},
		{"110105194912310021", false}, {"11010519491231002", false}, {"1101051949123100X2", false},
		{"110105000012310027", false},
	} {
		if got := validResidentID([]byte(tc.id)); got != tc.valid {
			t.Errorf("validResidentID(%s) = %v", tc.id, got)
		}
	}
}
