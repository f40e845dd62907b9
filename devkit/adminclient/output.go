package adminclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// Output formats of -o.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// ErrUsage marks a command line that cannot be run (unknown command, bad
// flag or argument): `cpibroker` exits 2 for it and 1 for a failed
// operation.
var ErrUsage = errors.New("usage")

// usageError wraps msg so it matches ErrUsage.
func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// defaultFormat is a table for a person at a terminal, JSON for a script.
func defaultFormat(w io.Writer) string {
	if isTerminal(w) {
		return FormatTable
	}
	return FormatJSON
}

// columns are the table columns of the list commands, as JSON paths into
// each item ("runtime.url"); other commands show every field.
var columns = map[string][]string{
	"clients list":   {"id", "name", "roles", "enabled", "grants"},
	"providers list": {"id", "type", "title", "runtime.url", "auto_enable"},
	"flows list":     {"id", "provider", "status", "available_status", "title", "address"},
	"audit ":         {"time", "actor", "action", "target", "outcome", "detail"},
	"dlq list":       {"id", "kind", "client", "flow", "job_id", "code", "attempts", "time"},
	"keys list":      {"jwk.kid", "state", "signing", "created_at", "retired_at", "expires_at"},
	"breakers list":  {"flow", "state", "since", "until", "by"},
	"sequences list": {"id", "client", "flow", "key", "state", "head", "head_status", "head_error.code", "since"},
}

// render prints the answer b of command cmd in format.
func render(w io.Writer, format, cmd string, b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch format {
	case FormatJSON:
		return printJSON(w, b)
	case FormatYAML:
		return printYAML(w, b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	return printTable(w, cmd, v)
}

func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printYAML converts the JSON answer keeping its key order (JSON is YAML:
// the parsed node tree is re-encoded in block style).
func printYAML(w io.Writer, b []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style &^= yaml.FlowStyle
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && !strings.ContainsAny(n.Value, "\n") {
			n.Style &^= yaml.DoubleQuotedStyle // the encoder quotes what would read as another type
		}
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	return enc.Close()
}

// printTable shows a page ({"items": […]}) as a table with the command's
// columns, and any other object as aligned "field  value" lines, its lists
// of objects as tables.
func printTable(w io.Writer, cmd string, v any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	m, ok := v.(map[string]any)
	if !ok {
		fmt.Fprintln(tw, cell(v))
		return tw.Flush()
	}
	if items, ok := m["items"].([]any); ok {
		itemTable(tw, columns[cmd], items)
		if err := tw.Flush(); err != nil {
			return err
		}
		if next := cell(m["next_cursor"]); next != "" && next != "-" {
			fmt.Fprintf(w, "\nmore: --cursor %s\n", next)
		}
		return nil
	}
	keys := orderedKeys(m)
	for _, k := range keys {
		if list, ok := m[k].([]any); ok && len(list) > 0 && isObject(list[0]) {
			continue // below, as tables
		}
		fmt.Fprintf(tw, "%s\t%s\n", strings.ToUpper(k), cell(m[k]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range keys {
		if list, ok := m[k].([]any); ok && len(list) > 0 && isObject(list[0]) {
			fmt.Fprintf(w, "\n%s:\n", strings.ToUpper(k))
			itemTable(tw, nil, list)
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }

// itemTable writes a header and one row per item; without columns, the
// scalar fields of the first item (at most 8).
func itemTable(tw io.Writer, cols []string, items []any) {
	if cols == nil && len(items) > 0 {
		if first, ok := items[0].(map[string]any); ok {
			for _, k := range orderedKeys(first) {
				if _, nested := first[k].(map[string]any); !nested && len(cols) < 8 {
					cols = append(cols, k)
				}
			}
		}
	}
	if len(items) == 0 {
		fmt.Fprintln(tw, "(none)")
		return
	}
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(strings.ReplaceAll(c, ".", "_"))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, it := range items {
		m, _ := it.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(dig(m, c))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
}

// dig follows a dotted path.
func dig(m map[string]any, path string) any {
	var v any = m
	for p := range strings.SplitSeq(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// cell is a value on one line: lists of scalars joined by commas, objects
// as compact JSON, absent as "-".
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return strings.ReplaceAll(x, "\n", " ")
	case []any:
		if len(x) == 0 {
			return "-"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			if isObject(e) {
				b, _ := json.Marshal(x)
				return string(b)
			}
			parts[i] = cell(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// orderedKeys puts identifying keys first and long text last, the rest
// sorted.
func orderedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	first := []string{"id", "client_id", "name", "provider", "ok", "summary"}
	rank := func(k string) int {
		if i := slices.Index(first, k); i >= 0 {
			return i
		}
		if k == "detail" || k == "message" {
			return len(first) + 1 // long text last
		}
		return len(first)
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	return keys
}
