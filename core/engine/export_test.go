package engine

// ForceDiffCapture makes e's captures take the diff-service path, so tests
// cover the fallback on a host where the fast path applies.
func ForceDiffCapture(e *Engine) { e.forceDiff = true }
