package handlers

import (
	"testing"
	"unicode/utf8"

	"github.com/tickstock/tickstock"
)

// FuzzDecodeJSON: any body gives either a value or a 400/422 app error, never a panic.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.co","password":"x"}`, `{"email":5}`, `{`, `{} {}`, `[]`, `null`, `{"admin":true}`,
		`{"email":"\ud800"}`, `"str"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in credentials
		err := decodeJSON(body, &in)
		if err == nil {
			return
		}
		if code := tickstock.ErrorCode(err); code != tickstock.EBADREQUEST && code != tickstock.EINVALID {
			t.Fatalf("decodeJSON(%q) = %v with code %s, want bad_request or invalid", body, err, code)
		}
	})
}

// FuzzParseForm: any urlencoded or multipart body parses or is a 400, never a panic, and
// every value that comes out is valid UTF-8.
func FuzzParseForm(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", []byte("email=a%40b.co&password=x&_csrf=t"))
	f.Add("application/x-www-form-urlencoded", []byte("a=%ff&&=&b"))
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--X--\r\n"))
	f.Add("multipart/form-data", []byte("--X\r\n"))
	f.Add("multipart/form-data; boundary=X", []byte("garbage"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		values, err := parseForm(contentType, body)
		if err != nil {
			if tickstock.ErrorCode(err) != tickstock.EBADREQUEST {
				t.Fatalf("parseForm error %v is not a 400", err)
			}
			return
		}
		for k, vs := range values {
			for _, v := range vs {
				if !utf8.ValidString(k) || !utf8.ValidString(v) {
					t.Fatalf("invalid UTF-8 passed: %q=%q", k, v)
				}
			}
		}
	})
}
