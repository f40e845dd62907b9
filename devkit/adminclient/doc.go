// Package adminclient is `cpibroker admin`: a thin command-line client of
// the admin API (/admin/v1). It gets an admin token with client
// credentials, sends one request per command and prints the JSON answer.
package adminclient
