package catalog

// ValidID reports whether s is a valid client, flow or provider ID:
// ^[a-z0-9][a-z0-9-]{0,62}$. Such IDs are safe as NATS subject tokens.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}
