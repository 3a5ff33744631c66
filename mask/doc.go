// Package mask owns desensitization: the masking rules, their
// configuration file, and the engine that applies them to one log message
// at a time. It does no I/O but reading a rules file (LoadRules) and knows
// nothing of the collector around it; the collector calls Rules.Mask on
// each message and adds the returned Stats to its Counters.
//
// # Rules
//
// A message is masked with the rule set chosen by its (sys_id, msg_type).
// The built-in rules (DefaultConfig) run the text detectors on every
// message, and parse messages of type "8583" as ISO 8583 first. A masked
// character becomes '*'; lengths and separators are kept, so column
// layouts and parsers survive, except for the values of sensitive keys.
//
//	detector     recognises                                         keeps                 example
//	card         13-19 digits passing Luhn, contiguous or in       first 6, last 4       4111111111111111 -> 411111******1111
//	             groups of 3-6 digits joined by one space or dash                        4111-1111-1111-1111 -> 4111-11**-****-1111
//	resident_id  18 characters, GB 11643 check character right     first 6, last 4       11010519491231002X -> 110105********002X
//	mobile       11 digits 1[3-9]..., also 3-4-4 grouped, +86...   first 3, last 4       13912345678 -> 139****5678
//	email        local@domain.tld                                  first character,      alice@example.com -> a****@example.com
//	                                                                the domain
//	keys         the value of a sensitive key in key=value,       nothing: the value    "password":"hunter2" -> "password":"******"
//	             JSON ("key": value) and XML (<key>value</key>)     becomes ******
//	iso8583      ISO 8583 fields 2, 35, 36, 45, 52, 55             see "ISO 8583" below
//
// A number is a match only as a whole: a digit run glued to an ASCII
// letter or digit on either side is left alone ("ID4111111111111111", a
// 20-digit run), and so is part of a decimal or dotted number ("12.5",
// "10.0.0.1"); a run of digit groups is judged as a whole, so no part of a
// longer grouped number is masked. Non-ASCII text is no glue:
// "卡号4111111111111111已付" masks the card. A number that fails its check
// is left alone, because a false mask corrupts the log. Two checks are
// stricter than the bare check digit, to spare the long order numbers and
// zero-padded counters that logs are full of: a card number never starts
// with 0, and a resident ID must hold a plausible birth date (YYYYMMDD,
// 1800-2099). Where a resident ID also passes Luhn, it counts as a
// resident ID (both keep the same digits).
//
// Keys are matched without regard to ASCII case, as the whole key or as its
// last words: "token" matches token, access_token, X-Auth-Token and
// refreshToken, but not tokens. The default keys are those of DefaultKeys.
// The value of key=value ends at a blank or one of & , ; | " ' < > ) ] } (or
// at its closing quote when quoted); "key = value" is accepted too, and so
// is 'key': 'value' as Python prints a dict. A JSON string value keeps its
// quotes, a JSON number becomes the string "******", and objects, arrays,
// booleans and null are left alone. JSON inside a JSON string
// (\"password\":\"x\") is handled. An XML value ends at the next '<' (a
// CDATA section at its "]]>").
//
// The built-in detectors run in one pass over the bytes, without regular
// expressions. User-defined patterns (Go regular expressions, RE2) run
// after them, on their output; a pattern replaces its match, or one
// capturing group of it, with '*' for every byte, or with a fixed text.
//
// # Rules file
//
// YAML. Unknown fields are errors. Each rule set names a sys and a type,
// exactly or with "*" (an omitted one is "*"). A message takes the rule set
// that names both its sys and type, else the one for its type and any sys,
// else the one for its sys and any type, else the one for any of both; a
// pair the file does not cover gets the built-in rule sets. No two rule sets
// may have the same sys and type.
//
//	rule_sets:
//	  - name: payments-8583
//	    sys: pay                # exact name or "*"
//	    type: "8583"
//	    # Omitted: card, resident_id, mobile, email, keys (and iso8583 if
//	    # an iso8583 section is given). [] turns built-in masking off.
//	    detectors: [iso8583, card, resident_id, mobile, email, keys]
//	    iso8583:
//	      head_len: 12          # used when the datagram says head_len 0
//	      fields:               # overrides of the default layout
//	        - {field: 48, mask: all}
//	        - {field: 55, format: lllbinary, length: 255}
//	  - sys: "*"
//	    type: "*"
//	    keys: [password, pin, cvv, secret, token]   # replaces DefaultKeys
//	    extra_keys: [session_id]                    # added to the keys
//	    patterns:
//	      - name: order-number
//	        regexp: 'ORD-\d{10}'                    # masked as **********
//	      - regexp: 'acct:(\d+)'
//	        group: 1                                # only the digits
//	        replace: "[account]"                    # fixed replacement
//
// Field formats are fixed, llvar, lllvar (ASCII length prefix counting
// characters), binary, llbinary and lllbinary (each byte written as two hex
// characters; length and prefix count bytes). Masks are none, card and all.
// An override without a format keeps the default format and length.
//
// # ISO 8583
//
// A message of an iso8583 rule set is parsed after its header: head_len
// bytes, taken from the datagram, or from the rule set when the datagram
// says 0. The header is kept as it is. Then, in ASCII:
//
//	MTI                 4 digits
//	primary bitmap      16 hex characters; bit 1 (the high bit) set means
//	secondary bitmap    16 more hex characters follow
//	data elements       in field order, each as the layout says
//
// The default layout is the 1987 layout in ASCII of jPOS's ISO87APackager:
// fixed fields (IFA_NUMERIC, IF_CHAR, IFA_AMOUNT), LLVAR (IFA_LLNUM,
// IFA_LLCHAR: 2, 32-35, 44, 45, 99-103), LLLVAR (IFA_LLLCHAR: 36, 46-63,
// 104-127) and hex binary (IFA_BINARY: 52, 64, 128 of 8 bytes, 65 of 1, 96
// of 16). Field 55 is IFA_LLLCHAR 999 there, not a binary field, and so it
// is here; a sender that packs it as IFA_LLLBINARY overrides it with format
// lllbinary.
//
// Field 2 is masked as a card number (first 6 and last 4 kept) whatever its
// Luhn check, because a field 2 is a PAN by definition; a field 2 shorter
// than 13 characters is masked entirely, since 6+4 would show nearly all of
// it. Every byte of the values of fields 35 (track 2), 36 (track 3), 45
// (track 1), 52 (PIN data) and 55 (ICC data) becomes '*'; length prefixes
// stay. The output has the length of the input. Text rules and patterns do
// not run on a message that parsed: they would misread the fields run
// together.
//
// A message that does not parse (bad MTI, bitmap, length prefix or hex,
// a field missing from the layout, a field cut short, or bytes after the
// last field other than one line terminator) is masked with the text rules
// and patterns of its rule set instead, and counted in
// Stats.ISO8583Fallbacks.
//
// # Concurrency and allocation
//
// Rules are immutable and safe for concurrent use. Mask never modifies its
// input; it returns the input itself when nothing was masked, so the common
// case allocates nothing.
package mask
