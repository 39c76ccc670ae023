package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/tickstock/tickstock"
)

// isJSONBody reports whether the request body is JSON.
func isJSONBody(c *fiber.Ctx) bool {
	return strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON)
}

// decodeJSON reads exactly one JSON object into v, refusing unknown fields. Malformed JSON
// is a 400; it never reaches validation.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return tickstock.FieldError(typeErr.Field, "%s has the wrong type.", typeErr.Field)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return tickstock.FieldError("", "Unknown field: %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return tickstock.Errorf(tickstock.EBADREQUEST, "The request body is not valid JSON.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return tickstock.Errorf(tickstock.EBADREQUEST, "The request body must hold one JSON object.")
	}
	return nil
}

// formValues returns the posted form (urlencoded or multipart).
func formValues(c *fiber.Ctx) (map[string][]string, error) {
	return parseForm(c.Get(fiber.HeaderContentType), c.Body())
}

// parseForm decodes a form body. Invalid UTF-8 or a broken multipart body is a 400; it
// never panics, whatever the bytes (FuzzParseForm).
func parseForm(contentType string, body []byte) (map[string][]string, error) {
	values := make(map[string][]string)
	if strings.HasPrefix(contentType, fiber.MIMEMultipartForm) {
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil || params["boundary"] == "" {
			return nil, tickstock.Errorf(tickstock.EBADREQUEST, "The form data is malformed.")
		}
		form, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).ReadForm(BodyLimit)
		if err != nil {
			return nil, tickstock.Errorf(tickstock.EBADREQUEST, "The form data is malformed.")
		}
		defer form.RemoveAll() //nolint:errcheck
		for k, vs := range form.Value {
			values[k] = append(values[k], vs...)
		}
	} else {
		var args fasthttp.Args
		args.ParseBytes(body)
		args.VisitAll(func(k, v []byte) {
			values[string(k)] = append(values[string(k)], string(v))
		})
	}
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return nil, tickstock.Errorf(tickstock.EBADREQUEST, "The form data is not valid UTF-8.")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, tickstock.Errorf(tickstock.EBADREQUEST, "The form data is not valid UTF-8.")
			}
		}
	}
	return values, nil
}

// first returns the first value of a form field.
func first(values map[string][]string, key string) string {
	if vs := values[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
