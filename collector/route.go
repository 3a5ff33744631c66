package collector

import (
	"fmt"
	"strings"

	"github.com/clogs-io/clogs/streammanager"
)

// placeholders a stream template may use.
var placeholders = []string{"{sys}", "{type}", "{file}"}

// checkTemplate refuses unknown placeholders and a template that cannot
// make a valid stream name even from plain fields.
func checkTemplate(template string) error {
	rest := template
	for _, p := range placeholders {
		rest = strings.ReplaceAll(rest, p, "x")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("stream template %q: only %s may appear in braces", template, strings.Join(placeholders, ", "))
	}
	if err := streammanager.ValidateStreamName(rest); err != nil {
		return fmt.Errorf("stream template %q: %w", template, err)
	}
	return nil
}

// maxStreamName is the longest stream name (DESIGN.md, command-line contract).
const maxStreamName = 255

// streamName fills template with a line's fields. Bytes a stream name
// cannot hold become '_' (the record keeps the real names), and the name
// is cut to its limit, so every line has a stream.
func streamName(dst []byte, template string, sys, msgType, file []byte) []byte {
	dst = dst[:0]
	for i := 0; i < len(template); {
		switch {
		case strings.HasPrefix(template[i:], "{sys}"):
			dst = appendNamePart(dst, sys)
			i += len("{sys}")
		case strings.HasPrefix(template[i:], "{type}"):
			dst = appendNamePart(dst, msgType)
			i += len("{type}")
		case strings.HasPrefix(template[i:], "{file}"):
			dst = appendNamePart(dst, file)
			i += len("{file}")
		default:
			dst = append(dst, template[i])
			i++
		}
	}
	if len(dst) > maxStreamName {
		dst = dst[:maxStreamName]
	}
	return dst
}

// appendNamePart appends a field, replacing bytes outside
// [A-Za-z0-9._/-] and an empty field with '_'.
func appendNamePart(dst, part []byte) []byte {
	if len(part) == 0 {
		return append(dst, '_')
	}
	for _, c := range part {
		if !nameByte(c) {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-'
}
