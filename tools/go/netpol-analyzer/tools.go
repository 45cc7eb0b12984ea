//go:build tools

// Wrapper module: netpol-analyzer cannot be go-installed here (the proxy refuses its version list, which go install
// consults, and the checksum database does not know v1.4.2, so this go.sum is what pins it). See tools/go/README.md.
package tools

import _ "github.com/np-guard/netpol-analyzer/cmd/netpolicy"
