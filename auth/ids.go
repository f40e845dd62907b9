package auth

// validID reports whether s is a broker identifier (client or flow ID):
// ^[a-z0-9][a-z0-9-]{0,62}$ (DESIGN §2).
func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
