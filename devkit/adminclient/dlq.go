package adminclient

import (
	"encoding/json"
	"errors"
	"flag"
	"net/url"
)

// dlqFilters are the filters of `dlq list` and `dlq replay`.
var dlqFilters = []string{"client", "flow", "kind", "code", "job", "since", "until", "limit"}

func dlqFlags(fs *flag.FlagSet) map[string]*string {
	vals := map[string]*string{}
	for _, n := range dlqFilters {
		vals[n] = fs.String(n, "", "filter: "+n)
	}
	return vals
}

// listDLQ is `dlq list [--client C] [--flow F] [--kind job|callback] ...`.
func listDLQ(fs *flag.FlagSet) request {
	vals := dlqFlags(fs)
	cursor := fs.String("cursor", "", "next_cursor of the previous page")
	return func(pos []string) (string, string, []byte, error) {
		if len(pos) > 0 {
			return "", "", nil, errors.New("dlq list takes no arguments")
		}
		q := url.Values{}
		for _, n := range dlqFilters {
			if v := *vals[n]; v != "" {
				q.Set(n, v)
			}
		}
		if *cursor != "" {
			q.Set("cursor", *cursor)
		}
		return "GET", withQuery("/admin/v1/dlq", q), nil, nil
	}
}

// replayDLQ is `dlq replay ID... | --client C [--kind callback] ...`.
func replayDLQ(fs *flag.FlagSet) request {
	vals := dlqFlags(fs)
	return func(pos []string) (string, string, []byte, error) {
		body := map[string]any{}
		if len(pos) > 0 {
			body["ids"] = pos
		}
		for _, n := range dlqFilters {
			if v := *vals[n]; v != "" && n != "limit" {
				body[n] = v
			}
		}
		if len(body) == 0 {
			return "", "", nil, errors.New("dlq replay needs entry IDs or a filter")
		}
		b, err := json.Marshal(body)
		return "POST", "/admin/v1/dlq/replay", b, err
	}
}
