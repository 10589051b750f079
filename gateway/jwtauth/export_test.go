package jwtauth

// Verifications returns how many tokens v verified in full (decoded and
// checked the signature of) rather than answered from its cache.
func Verifications(v *Verifier) int64 { return v.verified.Load() }

// CacheLen returns how many tokens v's cache holds (0 with NoCache).
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
