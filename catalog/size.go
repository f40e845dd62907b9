package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxRecordBytes is the largest encoded flow, provider or client the Store
// writes: half of NATS's default max_payload (1 MiB), so a record always
// fits a message whatever the server's setting, with room for headers.
const MaxRecordBytes = 512 << 10

// ErrTooLarge: a change would make a record larger than MaxRecordBytes.
var ErrTooLarge = errors.New("record too large")

// TooLargeError names the field that makes up most of a record that would
// exceed MaxRecordBytes. It wraps ErrTooLarge.
type TooLargeError struct {
	// Field is the largest top-level JSON field of the record.
	Field string
	// Size is the encoded size of the whole record.
	Size int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the record would be %d bytes, above the limit of %d; its largest field is %q", e.Size, MaxRecordBytes, e.Field)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// checkRecordSize refuses an encoded record above MaxRecordBytes, naming
// its largest field.
func checkRecordSize(b []byte) error {
	if len(b) <= MaxRecordBytes {
		return nil
	}
	e := &TooLargeError{Size: len(b)}
	var fields map[string]json.RawMessage
	if json.Unmarshal(b, &fields) == nil {
		most := -1
		for k, v := range fields {
			if len(v) > most || (len(v) == most && k < e.Field) {
				e.Field, most = k, len(v)
			}
		}
	}
	return e
}
