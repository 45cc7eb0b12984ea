//go:build tools

// Wrapper module: buildkit cannot be go-installed (its go.mod has exclude directives, which go install refuses),
// so this module requires it and its go.sum pins every dependency; its go.mod repeats upstream's excludes.
// See tools/go/README.md.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildctl"
	_ "github.com/moby/buildkit/cmd/buildkitd"
)
