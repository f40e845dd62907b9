package cpisim

import (
	"fmt"
	"net/http"
)

// mplHeader is the response header carrying the message processing log ID.
// It is written with SAP's spelling (Go would canonicalize it to
// "Sap_messageprocessinglogid"; header names are case-insensitive anyway).
const mplHeader = "SAP_MessageProcessingLogID"

// textPlain is the Content-Type of the runtime's own text answers.
// UNCONFIRMED: the charset parameter is the servlet container's usual form.
const textPlain = "text/plain;charset=UTF-8"

// newMessageID returns a new MPL ID: 28 characters of base64url, the shape of
// real IDs such as "AF9rOAp4C34Vo-gN4RDd50ZIHTFz" (cpi.md 1.4).
func newMessageID() string { return randomToken(21) }

// internalErrorBody is the exact body of a 500 with "Return Exception to
// Sender" off (cpi.md 1.4), including SAP's spelling "occured".
func internalErrorBody(text, mplID string) string {
	return fmt.Sprintf("An internal server error occured: %s\nThe MPL ID for the failed message is : %s\nFor more details please check tail log.", text, mplID)
}

// tooLargeBody is the 413 body. UNCONFIRMED for the HTTPS adapter: the text
// is the one SAP documents for the body-size check, followed by the MPL line
// of the 500 body.
func tooLargeBody(limit int64, mplID string) string {
	return fmt.Sprintf("Message body exceeds configured size limit (%.1f MB)\nThe MPL ID for the failed message is : %s\n", float64(limit)/(1<<20), mplID)
}

// unavailableBody is the 503 body. UNCONFIRMED: CPI's 503 text is not
// documented; the MPL line is present when the flow ran (injected error)
// and absent for an outage, where no message is processed.
func unavailableBody(iflowID, mplID string) string {
	if mplID == "" {
		return fmt.Sprintf("Service Unavailable: integration flow %s is not started\n", iflowID)
	}
	return fmt.Sprintf("Service Unavailable: integration flow %s could not process the message\nThe MPL ID for the failed message is : %s\n", iflowID, mplID)
}

// injectedErrorBody is the body of an injected error other than 500 and 503.
func injectedErrorBody(status int, text, mplID string) string {
	return fmt.Sprintf("%d %s: %s\nThe MPL ID for the failed message is : %s\n", status, http.StatusText(status), text, mplID)
}

// writeText writes a text/plain answer, with the MPL header when mplID is set.
func writeText(w http.ResponseWriter, status int, mplID, body string) {
	w.Header().Set("Content-Type", textPlain)
	if mplID != "" {
		w.Header()[mplHeader] = []string{mplID}
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
