package mask

import "testing"

func TestKeyValues(t *testing.T) {
	runTextCases(t, []textCase{
		{"k=v", "login user=bob password=hunter2 ok", "login user=bob password=****** ok", KindKeyValue},
		{"upper case", "PASSWORD=hunter2", "PASSWORD=******", KindKeyValue},
		{"mixed case", "PassWd=x&next=1", "PassWd=******&next=1", KindKeyValue},
		{"spaces around =", "pwd = abc def", "pwd = ****** def", KindKeyValue},
		{"double quoted", `password="hunter 2" x`, `password="******" x`, KindKeyValue},
		{"single quoted", `pin='1234'`, `pin='******'`, KindKeyValue},
		{"escaped quote inside", `secret="a\"b" x`, `secret="******" x`, KindKeyValue},
		{"query string", "GET /a?token=abc123&page=2", "GET /a?token=******&page=2", KindKeyValue},
		{"pipe separated", "cvv=123|user=bob", "cvv=******|user=bob", KindKeyValue},
		{"suffix word", "access_token=abc", "access_token=******", KindKeyValue},
		{"dotted key", "db.password=abc", "db.password=******", KindKeyValue},
		{"dashed key", "X-Auth-Token=abc", "X-Auth-Token=******", KindKeyValue},
		{"camel case", "refreshToken=abc", "refreshToken=******", KindKeyValue},
		{"command-line flag", "--password=abc", "--password=******", KindKeyValue},
		{"CJK before", "密码password=abc", "密码password=******", KindKeyValue},
		{"k=v inside a JSON string", `{"msg":"pwd=abc\",\"x\":1"}`, `{"msg":"pwd=******\",\"x\":1"}`, KindKeyValue},

		{"json string", `{"password":"hunter2","user":"bob"}`, `{"password":"******","user":"bob"}`, KindKeyValue},
		{"json upper key", `{"PASSWORD" : "hunter2"}`, `{"PASSWORD" : "******"}`, KindKeyValue},
		{"json escaped quote in value", `{"token":"a\"b\\","n":1}`, `{"token":"******","n":1}`, KindKeyValue},
		{"python dict", `{'password': 'hunter2', 'user': 'bob'}`, `{'password': '******', 'user': 'bob'}`, KindKeyValue},
		{"json number", `{"pin":1234,"n":1}`, `{"pin":"******","n":1}`, KindKeyValue},
		{"json negative number", `{"cvv": -1.5e3}`, `{"cvv": "******"}`, KindKeyValue},
		{"json in json", `{"body":"{\"Password\":\"a\\\"b\",\"n\":1}"}`, `{"body":"{\"Password\":\"******\",\"n\":1}"}`, KindKeyValue},
		{"json in json number", `"{\"pin\":1234}"`, `"{\"pin\":\"******\"}"`, KindKeyValue},

		{"xml", "<req><password>hunter2</password></req>", "<req><password>******</password></req>", KindKeyValue},
		{"xml upper", "<PIN>1234</PIN>", "<PIN>******</PIN>", KindKeyValue},
		{"xml attributes", `<Track2 enc="none">4111=2512</Track2>`, `<Track2 enc="none">******</Track2>`, KindKeyValue},
		{"xml namespace", "<ns:secret>s</ns:secret>", "<ns:secret>******</ns:secret>", KindKeyValue},
		{"xml cdata", "<cvv2><![CDATA[12<3]]></cvv2>", "<cvv2><![CDATA[******]]></cvv2>", KindKeyValue},
		{"xml attribute value", `<user password="x"/>`, `<user password="******"/>`, KindKeyValue},
		{"xml truncated", "<token>abc", "<token>******", KindKeyValue},

		{"not a key", "passwords=3", "", noMask},
		{"key inside a word", "pinyin=abc", "", noMask},
		{"key as prefix", "tokenType=bearer", "", noMask},
		{"no value", "password= user=bob", "", noMask},
		{"empty quoted", `password=""`, "", noMask},
		{"json empty", `{"password":""}`, "", noMask},
		{"json null", `{"password":null}`, "", noMask},
		{"json object", `{"token":{"a":1}}`, "", noMask},
		{"json key without colon", `["password","x"]`, "", noMask},
		{"word then text", "password is required", "", noMask},
		{"xml self-closing", "<password/>", "", noMask},
		{"xml closing tag only", "</password>", "", noMask},
		{"xml empty", "<password></password>", "", noMask},
	})
}

func TestKeySet(t *testing.T) {
	keys := newKeySet([]string{"token", "api-key", "Pin"})
	for _, tc := range []struct {
		key       string
		sensitive bool
	}{
		{"token", true}, {"TOKEN", true}, {"access_token", true}, {"AccessToken", true},
		{"x.token", true}, {"ns:token", true}, {"pin", true}, {"userPIN", true},
		{"x-api-key", true}, {"API-KEY", true},
		{"tokens", false}, {"mytoken", false}, {"tokenType", false}, {"spin", false},
		{"apikey", false}, {"", false},
	} {
		if got := keys.sensitive([]byte(tc.key)); got != tc.sensitive {
			t.Errorf("sensitive(%q) = %v", tc.key, got)
		}
	}
}
