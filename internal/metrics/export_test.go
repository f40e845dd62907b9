package metrics

// SetListed sets the hook that runs between a listing and its commit.
func SetListed(b *BacklogSampler, f func()) { b.listed = f }
